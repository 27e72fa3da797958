"""No periodic job can starve: a row that keeps failing waits its own backoff and never holds the batch.

Each job here is given a batch of N and N + 1 rows it must work on, the first N (the
oldest, at the front) failing every time: the last one is still done within two runs.
The failing rows belong to a gateway since switched off (its adapter is gone, so every
fetch or refund of them raises), or meet a broker that is down; the row that must get
through goes through the real worker and the sandbox.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from chatju import maintenance as jobs
from chatju.db import utcnow
from chatju.extensions import db
from chatju.payments.models import OutboxItem, Payment, Refund
from chatju.periodic import BACKOFF_CAP, backoff
from chatju.webhooks.models import WebhookEvent
from tests.support.shopper import wait_until
from tests.support.toss import TossShopper

pytestmark = pytest.mark.usefixtures("worker", "live_server")
N = 3
RETIRED = "retired"  # a gateway switched off: rows of it remain, and every call for them fails
AN_HOUR_AGO = timedelta(hours=1)
INTERVAL = timedelta(seconds=60)  # RECONCILE_INTERVAL_SECONDS: the first wait


@pytest.fixture
def buyer_id(make_user) -> int:
    return make_user("buyer@example.com")


@pytest.fixture
def toss(app, client, sandbox, buyer_id, auth_headers) -> TossShopper:
    return TossShopper(app, client, sandbox, auth_headers(buyer_id))


@pytest.fixture
def admin(make_user, auth_headers) -> dict[str, str]:
    return auth_headers(make_user("admin@chatju.app", admin=True))


@pytest.fixture
def broker_down(test_env):
    from chatju import create_app

    return create_app({**test_env, "REDIS_URL": "redis://127.0.0.1:1/0"})


def run(app, job, *args) -> dict[str, int]:
    with app.app_context():
        result = job(*args)
        db.session.remove()
        return result


def update(app, model, where, **values) -> None:
    with app.app_context():
        db.session.execute(sa.update(model).where(where).values(**values))
        db.session.commit()


def rows(app, model, *columns) -> list[Any]:
    with app.app_context():
        return db.session.execute(sa.select(*columns).order_by(model.id)).all()


def insert_payments(app, user_id: int, count: int, **fields: Any) -> list[int]:
    """Payments of the switched-off gateway, waiting on a job since long ago (oldest first)."""
    long_ago = utcnow() - timedelta(days=1)
    with app.app_context():
        made = [
            Payment(
                order_id=f"retired-{n}",
                user_id=user_id,
                provider=RETIRED,
                amount=1000,
                currency="KRW",
                order_name="Premium reading",
                created_at=long_ago,
                updated_at=long_ago,
                next_attempt_at=long_ago + timedelta(seconds=n),
                **fields,
            )
            for n in range(count)
        ]
        db.session.add_all(made)
        db.session.commit()
        return [payment.id for payment in made]


def waiting(due: datetime, attempts: int, now: datetime) -> None:
    """After its try number `attempts`, a row waits the job interval doubled per earlier try (at most an hour)."""
    wait = min(INTERVAL * 2 ** (attempts - 1), BACKOFF_CAP)
    assert now + wait <= due <= utcnow() + wait


def test_backoff_doubles_from_the_job_interval_and_is_capped(app):
    with app.app_context():
        waits = [backoff(attempts) for attempts in range(9)]
        assert waits[:6] == [INTERVAL * 2**n for n in range(6)]
        assert waits[6:] == [BACKOFF_CAP] * 3 == [timedelta(hours=1)] * 3
        assert backoff(10_000) == BACKOFF_CAP


def test_reconcile_a_failing_payment_does_not_hold_the_batch(app, toss, sandbox, buyer_id, monkeypatch):
    monkeypatch.setattr("chatju.payments.maintenance.BATCH", N)
    stuck = insert_payments(app, buyer_id, N, status="PROCESSING")
    sandbox.webhooks(gateway="toss", paused=True)
    order = toss.create(productId="premium_reading")
    key = toss.checkout(order)["params"]["paymentKey"]
    toss.toss_confirm(order, key)  # Toss confirmed; our worker never heard back
    fields = {"status": "PROCESSING", "attempt_key": key, "attempt_from_status": "PENDING"}
    update(app, Payment, Payment.order_id == order["orderId"], updated_at=utcnow() - AN_HOUR_AGO, **fields)

    started = utcnow()
    assert run(app, jobs.reconcile) == {"errors": N}  # the oldest N, each failing
    assert toss.status(order) == "PROCESSING"
    assert run(app, jobs.reconcile) == {"payments": 1}  # the failing ones wait: this one's turn
    assert toss.status(order) == "PAID"
    found = rows(app, Payment, Payment.id, Payment.status, Payment.job_attempts, Payment.next_attempt_at)
    for payment_id, status, attempts, due in found:
        if payment_id in stuck:
            assert (status, attempts) == ("PROCESSING", 1)
            waiting(due, 1, started)
        else:
            assert (status, attempts) == ("PAID", 0)  # a new state starts afresh


def test_a_failing_payment_waits_longer_each_time_up_to_the_cap(app, buyer_id):
    [stuck] = insert_payments(app, buyer_id, 1, status="PROCESSING")
    waits = []
    for attempt in range(1, 9):
        now = utcnow()
        assert run(app, jobs.reconcile) == {"errors": 1}
        assert run(app, jobs.reconcile) == {}  # not due again yet
        [(attempts, due)] = rows(app, Payment, Payment.job_attempts, Payment.next_attempt_at)
        assert attempts == attempt
        waiting(due, attempt, now)
        waits.append(round((due - now).total_seconds() / 60))
        time_passes = {"next_attempt_at": now - timedelta(seconds=1), "updated_at": now - AN_HOUR_AGO}
        update(app, Payment, Payment.id == stuck, **time_passes)
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]


def test_expire_a_failing_order_does_not_hold_the_batch(app, toss, buyer_id, monkeypatch):
    monkeypatch.setattr("chatju.payments.maintenance.BATCH", N)
    insert_payments(app, buyer_id, N, status="PENDING")
    abandoned = toss.create(productId="premium_reading")
    update(app, Payment, Payment.order_id == abandoned["orderId"], created_at=utcnow() - timedelta(hours=2))

    assert run(app, jobs.expire) == {"errors": N}
    assert toss.status(abandoned) == "PENDING"
    assert run(app, jobs.expire) == {"expired": 1}
    assert toss.status(abandoned) == "EXPIRED"
    assert [attempts for (attempts,) in rows(app, Payment, Payment.job_attempts)] == [1] * N + [0]


def test_a_pending_order_is_never_made_to_wait_past_its_expiry(app, buyer_id, sandbox):
    """Reconcile fetches a young PENDING order and leaves it unpaid: it is due again by its expiry at the latest."""
    young = utcnow() - timedelta(minutes=44, seconds=30)  # PENDING_ORDER_TTL_SECONDS is 45 minutes
    [payment_id] = insert_payments(app, buyer_id, 1, status="PENDING")
    fields = {"provider": "stripe", "currency": "USD", "job_attempts": 4}
    update(app, Payment, Payment.id == payment_id, created_at=young, updated_at=young, **fields)
    assert run(app, jobs.reconcile) == {"payments": 1}  # nothing at Stripe names it: still PENDING
    [(status, attempts, due)] = rows(app, Payment, Payment.status, Payment.job_attempts, Payment.next_attempt_at)
    assert (status, attempts) == ("PENDING", 5)
    assert due == young + timedelta(minutes=45)  # not 16 minutes from now


def test_a_refund_in_flight_that_keeps_failing_does_not_hold_the_batch(
    app, toss, admin, buyer_id, broker_down, monkeypatch
):
    from tests.integration.test_lifecycle import paid_toss_order

    monkeypatch.setattr("chatju.payments.maintenance.BATCH", N)
    long_ago = utcnow() - timedelta(days=1)
    with app.app_context():
        for payment_id in insert_payments(app, buyer_id, N, status="PAID"):
            refund = Refund(
                refund_id=f"rf_retired_{payment_id}",
                payment_id=payment_id,
                amount=1000,
                currency="KRW",
                reason="stuck",
                status="pending",
                source="admin",
                updated_at=long_ago,
                next_attempt_at=long_ago,
            )
            db.session.add(refund)
        db.session.commit()
    order = paid_toss_order(toss)
    answer = broker_down.test_client().post(
        f"/payment/{order['orderId']}/refund", json={"amount": 2000, "reason": "broker down"}, headers=admin
    )
    assert answer.status_code == 202
    ours = answer.get_json()["refund"]["id"]
    update(app, Refund, Refund.refund_id == ours, updated_at=utcnow() - AN_HOUR_AGO)

    started = utcnow()
    assert run(app, jobs.reconcile) == {"refunds": N}  # sent again; the worker fails each of them
    assert run(app, jobs.reconcile) == {"refunds": 1}  # they wait: ours is sent
    toss.wait_for(order, "PARTIALLY_REFUNDED")
    found = rows(app, Refund, Refund.refund_id, Refund.status, Refund.attempts, Refund.next_attempt_at)
    assert [(refund_id, status, attempts) for refund_id, status, attempts, _ in found if refund_id == ours] == [
        (ours, "succeeded", 1)
    ]
    for refund_id, status, attempts, due in found:
        if refund_id != ours:
            assert (status, attempts) == ("pending", 1)
            waiting(due, 1, started)


def test_redrive_an_event_is_not_held_back_by_ones_that_keep_failing(app, toss, sandbox, broker_down, monkeypatch):
    monkeypatch.setattr("chatju.webhooks.maintenance.BATCH", N)
    sandbox.webhooks(gateway="toss", paused=True)
    order = toss.create(productId="premium_reading")
    paid = toss.toss_confirm(order, toss.checkout(order)["params"]["paymentKey"])
    body = {"eventType": "PAYMENT_STATUS_CHANGED", "createdAt": "2026-11-30T20:00:00.000000", "data": paid}
    assert broker_down.test_client().post("/payment/toss/webhook", json=body).status_code == 200
    long_ago = utcnow() - timedelta(days=1)
    with app.app_context():
        for n in range(N):
            db.session.add(
                WebhookEvent(
                    provider="toss",
                    event_id=f"stuck-{n}",
                    event_type="PAYMENT_STATUS_CHANGED",
                    body="{}",
                    state="received",
                    received_at=long_ago,
                    next_attempt_at=long_ago,
                )
            )
        db.session.execute(sa.update(WebhookEvent).values(received_at=long_ago))
        db.session.commit()

    started = utcnow()
    assert run(broker_down, jobs.redrive) == {"errors": N}  # the oldest N: the broker refuses them
    assert run(app, jobs.redrive) == {"events": 1}  # they wait; the broker is back: this one goes
    toss.wait_for(order, "PAID")
    for event_id, state, attempts, due in rows(
        app,
        WebhookEvent,
        WebhookEvent.event_id,
        WebhookEvent.state,
        WebhookEvent.attempts,
        WebhookEvent.next_attempt_at,
    ):
        if event_id.startswith("stuck-"):
            assert (state, attempts) == ("received", 1)
            waiting(due, 1, started)
        else:
            assert state == "processed"


def test_redrive_an_effect_is_not_held_back_by_ones_that_keep_failing(app, toss, buyer_id, broker_down, monkeypatch):
    from tests.integration.test_lifecycle import paid_toss_order

    monkeypatch.setattr("chatju.fulfilment.maintenance.BATCH", N)
    order = paid_toss_order(toss)
    with app.app_context():
        wait_until(
            lambda: (
                db.session.execute(sa.select(OutboxItem.state)).scalars().all() == ["done", "done"]
                or db.session.rollback()
            )
        )
    long_ago = utcnow() - timedelta(days=1)
    with app.app_context():
        for payment_id in insert_payments(app, buyer_id, N, status="PAID"):
            db.session.add(
                OutboxItem(
                    payment_id=payment_id,
                    effect="grant_entitlement",
                    state="pending",
                    created_at=long_ago,
                    next_attempt_at=long_ago,
                )
            )
        db.session.commit()
    receipt = sa.and_(
        OutboxItem.effect == "receipt_mail",
        OutboxItem.payment_id.in_(sa.select(Payment.id).where(Payment.order_id == order["orderId"])),
    )
    update(app, OutboxItem, receipt, state="pending", created_at=utcnow() - AN_HOUR_AGO, next_attempt_at=utcnow())

    started = utcnow()
    assert run(broker_down, jobs.redrive) == {"errors": N}
    assert run(app, jobs.redrive) == {"effects": 1}
    with app.app_context():
        wait_until(
            lambda: (
                db.session.execute(sa.select(OutboxItem.state).where(receipt)).scalar_one() == "done"
                or db.session.rollback()
            )
        )
    for effect, state, attempts, due in rows(
        app, OutboxItem, OutboxItem.effect, OutboxItem.state, OutboxItem.attempts, OutboxItem.next_attempt_at
    ):
        if effect == "grant_entitlement" and state == "pending":
            assert attempts == 1
            waiting(due, 1, started)
