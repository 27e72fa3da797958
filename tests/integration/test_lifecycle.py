"""After the payment: cancel, refunds, what a payment buys, and the background jobs."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from chatju import maintenance as jobs
from chatju.auth.models import User
from chatju.db import utcnow
from chatju.extensions import db
from chatju.fulfilment.models import Entitlement
from chatju.gateways.models import GatewayCall
from chatju.payments.models import OutboxItem, Payment, PaymentEvent, Refund
from chatju.states import LedgerKind
from chatju.webhooks.models import WebhookEvent
from tests.support.mail import mails_to
from tests.support.shopper import wait_until
from tests.support.stripe import StripeShopper, sandbox_intent
from tests.support.toss import TossShopper

pytestmark = pytest.mark.usefixtures("worker", "live_server")
BUYER = "buyer@example.com"


@pytest.fixture
def buyer_id(make_user) -> int:
    return make_user(BUYER)


@pytest.fixture
def toss(app, client, sandbox, buyer_id, auth_headers) -> TossShopper:
    return TossShopper(app, client, sandbox, auth_headers(buyer_id))


@pytest.fixture
def stripe(app, client, sandbox, buyer_id, auth_headers) -> StripeShopper:
    return StripeShopper(app, client, sandbox, auth_headers(buyer_id))


@pytest.fixture
def admin(make_user, auth_headers) -> dict[str, str]:
    return auth_headers(make_user("admin@chatju.app", admin=True))


def paid_toss_order(toss: TossShopper) -> dict:
    order = toss.create(productId="premium_reading")
    assert toss.confirm(order, toss.checkout(order)["params"]["paymentKey"]).get_json()["status"] == "PAID"
    return order


def paid_stripe_order(stripe: StripeShopper) -> dict:
    order = stripe.create(productId="premium_reading")
    stripe.pay(order)
    stripe.wait_for(order, "PAID")
    return order


def refund(client, admin, order, **body):
    return client.post(f"/payment/{order['orderId']}/refund", json=body, headers=admin)


def ledger(app, order_id: str) -> list[PaymentEvent]:
    with app.app_context():
        pid = db.session.execute(sa.select(Payment.id).where(Payment.order_id == order_id)).scalar_one()
        return list(
            db.session.execute(
                sa.select(PaymentEvent).where(PaymentEvent.payment_id == pid).order_by(PaymentEvent.id)
            ).scalars()
        )


def moves(app, order_id: str) -> list[str]:
    return [str(e.to_status) for e in ledger(app, order_id) if e.kind == LedgerKind.TRANSITION]


def run(app, job, *args):
    with app.app_context():
        result = job(*args)
        db.session.remove()
        return result


def backdate(app, order_id: str, **fields) -> None:
    with app.app_context():
        db.session.execute(sa.update(Payment).where(Payment.order_id == order_id).values(**fields))
        db.session.commit()


def readings(app, user_id: int) -> int:
    with app.app_context():
        return db.session.get(User, user_id).premium_readings


# --- cancel -------------------------------------------------------------------


def test_the_owner_cancels_a_pending_order(app, toss, client, make_user, auth_headers):
    order = toss.create(productId="premium_reading")
    stranger = client.post(f"/payment/{order['orderId']}/cancel", headers=auth_headers(make_user("x@example.com")))
    assert stranger.status_code == 404
    assert client.post(f"/payment/{order['orderId']}/cancel").status_code == 401
    response = client.post(f"/payment/{order['orderId']}/cancel", headers=toss.headers)
    assert response.status_code == 200 and response.get_json()["status"] == "CANCELED"
    again = client.post(f"/payment/{order['orderId']}/cancel", headers=toss.headers)
    assert again.status_code == 409 and again.get_json()["error"]["details"] == {"status": "CANCELED"}
    confirm = toss.confirm(order, toss.checkout(order)["params"]["paymentKey"])
    assert confirm.status_code == 409  # a canceled order is not confirmed


@pytest.mark.parametrize("status", ["PROCESSING", "PAID", "FAILED", "EXPIRED", "PARTIALLY_REFUNDED", "REFUNDED"])
def test_only_pending_orders_can_be_canceled(app, toss, client, status):
    order = toss.create(productId="premium_reading")
    backdate(app, order["orderId"], status=status)
    response = client.post(f"/payment/{order['orderId']}/cancel", headers=toss.headers)
    assert response.status_code == 409
    assert response.get_json()["error"] == {
        "code": "INVALID_STATE",
        "message": f"A {status} order cannot be canceled.",
        "details": {"status": status},
    }


def test_canceling_a_stripe_order_cancels_its_intent(app, stripe, client, sandbox):
    order = stripe.create(amount=1000)
    assert client.post(f"/payment/{order['orderId']}/cancel", headers=stripe.headers).get_json()["status"] == "CANCELED"
    wait_until(lambda: sandbox_intent(sandbox, order["paymentIntentId"])["status"] == "canceled")
    wait_until(
        lambda: any(e.event_type == "payment_intent.canceled" and e.state == "processed" for e in stripe.inbox())
    )
    assert stripe.status(order) == "CANCELED"


# --- refunds ------------------------------------------------------------------


def test_partial_then_full_toss_refund(app, toss, client, admin):
    order = paid_toss_order(toss)
    first = refund(client, admin, order, amount=3000, reason="partly unhappy")
    assert first.status_code == 202
    body = first.get_json()
    assert (
        body["refund"]["amount"] == 3000
        and body["refund"]["status"] == "pending"
        and body["refund"]["id"].startswith("rf_")
    )
    assert body["payment"]["clientSecret"] is None
    toss.wait_for(order, "PARTIALLY_REFUNDED")
    assert toss.payment(order).refunded_amount == 3000
    second = refund(client, admin, order, reason="the rest")
    assert second.get_json()["refund"]["amount"] == 10000
    toss.wait_for(order, "REFUNDED")
    wait_until(lambda: all(e.state != "received" for e in toss.inbox(order)))  # Toss's webhooks for the cancels
    assert moves(app, order["orderId"]) == ["PROCESSING", "PAID", "PARTIALLY_REFUNDED", "REFUNDED"]
    events = ledger(app, order["orderId"])
    refunded = [e for e in events if e.to_status in ("PARTIALLY_REFUNDED", "REFUNDED")]
    assert {e.actor for e in refunded} == {"admin@chatju.app"} and refunded[0].reason == "partly unhappy"
    with app.app_context():
        keys = db.session.execute(
            sa.select(GatewayCall.idempotency_key).where(GatewayCall.operation == "cancel")
        ).scalars()
        stored = db.session.execute(sa.select(Refund.refund_id).order_by(Refund.id)).scalars()
        assert list(keys) == list(stored)
    assert refund(client, admin, order, reason="more").status_code == 409


def test_stripe_refund_and_its_webhook_count_once(app, stripe, client, admin, sandbox):
    order = paid_stripe_order(stripe)
    assert refund(client, admin, order, amount=400, reason="goodwill").status_code == 202
    stripe.wait_for(order, "PARTIALLY_REFUNDED")
    wait_until(lambda: any(e.event_type == "charge.refunded" and e.state == "processed" for e in stripe.inbox()))
    assert stripe.read(order)["refundedAmount"] == 400
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Refund)).scalar() == 1  # not imported twice
        [created] = db.session.execute(sa.select(GatewayCall).where(GatewayCall.operation == "refund")).scalars()
        ours = db.session.execute(sa.select(Refund)).scalar_one()
        assert created.idempotency_key == ours.refund_id and ours.gateway_refund_id.startswith("re_")
    assert moves(app, order["orderId"]) == ["PAID", "PARTIALLY_REFUNDED"]


def test_a_stripe_refund_made_but_answered_with_a_saved_500_is_found_not_repeated(app, stripe, client, admin, sandbox):
    import stripe as stripe_sdk

    order = paid_stripe_order(stripe)
    sandbox.fault(gateway="stripe", mode="error500_saved_executed", count=1, operation="refund")
    answer = refund(client, admin, order, amount=400, reason="answer lost")
    assert answer.status_code == 202
    refund_id = answer.get_json()["refund"]["id"]
    with app.app_context():
        wait_until(
            lambda: db.session.execute(sa.select(Refund.status)).scalar_one() == "succeeded" or db.session.rollback()
        )
        ours = db.session.execute(sa.select(Refund)).scalar_one()
    sdk = stripe_sdk.StripeClient(sandbox.stripe_secret_key, base_addresses={"api": sandbox.stripe_api_base})
    [made] = sdk.v1.refunds.list(params={"payment_intent": order["paymentIntentId"]}).data
    assert (made.amount, made.metadata["refund_id"]) == (400, refund_id)
    assert (ours.refund_id, ours.gateway_refund_id, ours.status) == (refund_id, made.id, "succeeded")
    stripe.wait_for(order, "PARTIALLY_REFUNDED")
    assert stripe.read(order)["refundedAmount"] == 400
    sent = [(e["outcome"], e["executed"]) for e in sandbox.requests_log(gateway="stripe") if e["operation"] == "refund"]
    assert sent[0] == ("injected_error500", True) and all(outcome == "replayed" for outcome, _ in sent[1:])
    assert moves(app, order["orderId"]) == ["PAID", "PARTIALLY_REFUNDED"]


def test_a_refund_made_in_stripes_dashboard_is_imported_once(app, stripe, sandbox):
    import stripe as stripe_sdk

    order = paid_stripe_order(stripe)
    client = stripe_sdk.StripeClient(sandbox.stripe_secret_key, base_addresses={"api": sandbox.stripe_api_base})
    made = client.v1.refunds.create(params={"payment_intent": order["paymentIntentId"], "amount": 250})
    stripe.wait_for(order, "PARTIALLY_REFUNDED")
    sandbox.stripe_event(order["paymentIntentId"], "charge.refunded")  # Stripe sends it again
    wait_until(
        lambda: len([e for e in stripe.inbox() if e.event_type == "charge.refunded" and e.state == "processed"]) == 2
    )
    with app.app_context():
        [imported] = db.session.execute(sa.select(Refund)).scalars()
        assert (imported.gateway_refund_id, imported.amount, imported.source) == (made.id, 250, "webhook")


def test_refunds_need_an_admin_and_an_amount_in_range(app, toss, client, admin):
    order = paid_toss_order(toss)
    assert refund(client, toss.headers, order, reason="me").status_code == 403
    assert refund(client, {}, order, reason="me").status_code == 401
    over = refund(client, admin, order, amount=13001, reason="too much")
    assert over.status_code == 400 and over.get_json()["error"]["code"] == "AMOUNT_OUT_OF_RANGE"
    assert over.get_json()["error"]["details"] == {"available": 13000}
    for body in (
        {"amount": 100},
        {"reason": ""},
        {"reason": "x" * 201},
        {"amount": 0, "reason": "r"},
        {"amount": 1.5, "reason": "r"},
    ):
        assert refund(client, admin, order, **body).status_code == 400
    missing = client.post("/payment/ord_noSuchOrder00000000000/refund", json={"reason": "r"}, headers=admin)
    assert missing.status_code == 404
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Refund)).scalar() == 0
    assert toss.status(order) == "PAID"


def test_two_concurrent_refunds_cannot_exceed_the_paid_amount(app, toss, admin, pg_database):
    order = paid_toss_order(toss)
    statuses: list[int] = []
    barrier = threading.Barrier(2)

    def ask() -> None:
        local = app.test_client()
        barrier.wait()
        statuses.append(
            local.post(
                f"/payment/{order['orderId']}/refund", json={"amount": 8000, "reason": "race"}, headers=admin
            ).status_code
        )

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [202, 400]
    toss.wait_for(order, "PARTIALLY_REFUNDED")
    assert toss.payment(order).refunded_amount == 8000


def test_a_gateway_refusal_leaves_the_payment_as_it_was(app, stripe, client, admin, sandbox):
    order = paid_stripe_order(stripe)
    sandbox.stripe_dispute(order["paymentIntentId"])  # Stripe refuses refunds of a disputed charge
    wait_until(lambda: "DISPUTED" in stripe.read(order)["flags"])
    assert refund(client, admin, order, reason="please").status_code == 202
    with app.app_context():
        wait_until(
            lambda: db.session.execute(sa.select(Refund.status)).scalar_one() == "failed" or db.session.rollback()
        )
    assert stripe.status(order) == "PAID" and stripe.read(order)["refundedAmount"] == 0
    notes = [e.reason for e in ledger(app, order["orderId"]) if e.kind == LedgerKind.NOTE]
    assert any(reason and reason.startswith("refund refused: charge_disputed") for reason in notes)


# --- what a payment buys ----------------------------------------------------------


def test_a_paid_order_grants_one_reading_and_one_receipt(app, toss, client, buyer_id, mail_dir):
    order = paid_toss_order(toss)
    wait_until(lambda: readings(app, buyer_id) == 1)
    wait_until(
        lambda: any(m["Message-ID"] == f"<receipt-{order['orderId']}@chatju.app>" for m in mails_to(mail_dir, BUYER))
    )
    me = client.get("/auth/me", headers=toss.headers).get_json()
    assert me["premiumReadings"] == 1
    assert client.post("/readings/consume", headers=toss.headers).get_json() == {"premiumReadings": 0}
    empty = client.post("/readings/consume", headers=toss.headers)
    assert empty.status_code == 409 and empty.get_json()["error"]["code"] == "NO_READINGS_LEFT"


def test_confirm_webhook_and_reconcile_at_once_still_buy_one_reading(app, toss, sandbox, buyer_id, mail_dir):
    order = toss.create(productId="premium_reading")
    key = toss.checkout(order)["params"]["paymentKey"]
    backdate(app, order["orderId"], updated_at=utcnow() - timedelta(hours=1))
    threads = [
        threading.Thread(target=toss.confirm, args=(order, key)),
        threading.Thread(target=lambda: [run(app, jobs.reconcile, order["orderId"]) for _ in range(3)]),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    toss.wait_for(order, "PAID")
    wait_until(lambda: all(e.state != "received" for e in toss.inbox(order)) and toss.inbox(order))
    run(app, jobs.reconcile, order["orderId"])
    wait_until(lambda: readings(app, buyer_id) == 1)
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Entitlement)).scalar() == 1
        items = db.session.execute(sa.select(OutboxItem.effect, OutboxItem.state)).all()
    assert sorted((str(e), str(s)) for e, s in items) in (
        [("grant_entitlement", "done"), ("receipt_mail", "done")],
        [("grant_entitlement", "done"), ("receipt_mail", "pending")],
    )
    with app.app_context():
        wait_until(
            lambda: (
                db.session.execute(sa.select(OutboxItem.state)).scalars().all() == ["done", "done"]
                or db.session.rollback()
            )
        )
    assert len([m for m in mails_to(mail_dir, BUYER) if order["orderId"] in m["Subject"]]) == 1
    assert moves(app, order["orderId"]).count("PAID") == 1


def test_a_full_refund_takes_the_reading_back(app, toss, client, admin, buyer_id):
    order = paid_toss_order(toss)
    wait_until(lambda: readings(app, buyer_id) == 1)
    refund(client, admin, order, reason="refund all")
    toss.wait_for(order, "REFUNDED")
    wait_until(lambda: readings(app, buyer_id) == 0)
    with app.app_context():
        assert db.session.execute(sa.select(Entitlement.status)).scalar_one() == "revoked"


# --- background jobs ------------------------------------------------------------


def test_reconcile_rescues_a_toss_confirm_whose_answer_was_lost(app, toss, sandbox):
    sandbox.webhooks(gateway="toss", paused=True)
    order = toss.create(productId="premium_reading")
    key = toss.checkout(order)["params"]["paymentKey"]
    toss.toss_confirm(order, key)  # Toss confirmed; our worker never heard back
    backdate(
        app,
        order["orderId"],
        status="PROCESSING",
        attempt_key=key,
        attempt_from_status="PENDING",
        updated_at=utcnow() - timedelta(hours=1),
    )
    counts = run(app, jobs.reconcile)
    assert counts["payments"] == 1
    assert toss.status(order) == "PAID"
    assert [e.source for e in ledger(app, order["orderId"]) if e.to_status == "PAID"] == ["reconcile"]


def test_reconcile_never_confirms_a_toss_payment_itself(app, toss, sandbox):
    order = toss.create(productId="premium_reading")
    key = toss.checkout(order)["params"]["paymentKey"]  # authenticated at Toss, never confirmed
    backdate(app, order["orderId"], status="PROCESSING", attempt_key=key, updated_at=utcnow() - timedelta(hours=1))
    run(app, jobs.reconcile)
    assert not [r for r in sandbox.requests_log(gateway="toss") if r["operation"] == "confirm"]
    assert toss.status(order) == "PROCESSING"


def test_reconcile_rescues_a_stripe_payment_whose_webhook_never_came(app, stripe, sandbox):
    sandbox.webhooks(gateway="stripe", paused=True)
    order = stripe.create(amount=1000)
    stripe.pay(order)
    backdate(app, order["orderId"], updated_at=utcnow() - timedelta(hours=1))
    run(app, jobs.reconcile)
    assert stripe.status(order) == "PAID"


def test_two_reconcile_runs_at_once_do_the_work_once(app, toss, sandbox, pg_database):
    sandbox.webhooks(gateway="toss", paused=True)
    order = toss.create(productId="premium_reading")
    key = toss.checkout(order)["params"]["paymentKey"]
    toss.toss_confirm(order, key)
    backdate(app, order["orderId"], status="PROCESSING", attempt_key=key, updated_at=utcnow() - timedelta(hours=1))
    sandbox.fault(gateway="toss", latency_ms=500)  # keep the first run busy
    results: list[dict] = []
    threads = [threading.Thread(target=lambda: results.append(run(app, jobs.reconcile))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=len) == [{"skipped": 1}, {"payments": 1}]
    assert moves(app, order["orderId"]).count("PAID") == 1


def test_expiry_and_a_late_success_after_it(app, toss, stripe, sandbox):
    abandoned = toss.create(productId="premium_reading")
    stale_intent = stripe.create(amount=1000)
    paying_late = toss.create(productId="premium_reading")
    for order in (abandoned, stale_intent, paying_late):
        backdate(app, order["orderId"], created_at=utcnow() - timedelta(hours=2))
    counts = run(app, jobs.expire)
    assert counts["expired"] == 3
    assert toss.status(abandoned) == stripe.status(stale_intent) == toss.status(paying_late) == "EXPIRED"
    wait_until(lambda: sandbox_intent(sandbox, stale_intent["paymentIntentId"])["status"] == "canceled")
    # The customer was still in Toss's checkout: the payment that comes now is not lost.
    late = toss.confirm(paying_late, toss.checkout(paying_late)["params"]["paymentKey"])
    assert late.status_code == 200 and late.get_json()["status"] == "PAID"


def test_expiry_spares_an_order_the_gateway_reports_paid(app, stripe, sandbox):
    sandbox.webhooks(gateway="stripe", paused=True)
    order = stripe.create(amount=1000)
    stripe.pay(order)  # paid at Stripe; the webhook never came
    backdate(app, order["orderId"], created_at=utcnow() - timedelta(hours=2))
    run(app, jobs.expire)
    assert stripe.status(order) == "PAID"


def test_redrive_processes_an_event_whose_enqueue_failed(app, toss, sandbox, test_env):
    from chatju import create_app

    sandbox.webhooks(gateway="toss", paused=True)
    order = toss.create(productId="premium_reading")
    paid = toss.toss_confirm(order, toss.checkout(order)["params"]["paymentKey"])
    broker_down = create_app({**test_env, "REDIS_URL": "redis://127.0.0.1:1/0"})
    body = {"eventType": "PAYMENT_STATUS_CHANGED", "createdAt": "2026-11-30T20:00:00.000000", "data": paid}
    assert broker_down.test_client().post("/payment/toss/webhook", json=body).status_code == 200
    [stored] = toss.inbox(order)
    assert stored.state == "received"
    with app.app_context():
        db.session.execute(sa.update(WebhookEvent).values(received_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    assert run(app, jobs.redrive)["events"] == 1
    toss.wait_for(order, "PAID")


def test_prune_forgets_what_is_old_and_keeps_the_rows(app, toss, sandbox):
    from chatju.auth.models import MagicLink
    from chatju.idempotency.models import IdempotencyKey

    order = paid_toss_order(toss)
    toss.client.post("/payment/toss/create", json={"amount": 5000}, headers={**toss.headers, "Idempotency-Key": "old"})
    wait_until(lambda: toss.inbox(order))
    long_ago = utcnow() - timedelta(days=400)
    with app.app_context():
        db.session.execute(sa.update(IdempotencyKey).values(created_at=long_ago))
        db.session.add(MagicLink(email="a@example.com", token_hash="h" * 64, expires_at=long_ago, used_at=long_ago))
        db.session.execute(sa.update(WebhookEvent).values(received_at=long_ago))
        db.session.execute(sa.update(GatewayCall).values(created_at=long_ago))
        db.session.commit()
    recent = paid_toss_order(toss)  # within retention: untouched
    toss.client.post("/payment/toss/create", json={"amount": 6000}, headers={**toss.headers, "Idempotency-Key": "new"})
    with app.app_context():
        db.session.add(
            MagicLink(email="b@example.com", token_hash="k" * 64, expires_at=utcnow() + timedelta(minutes=10))
        )
        db.session.commit()
    counts = run(app, jobs.prune)
    assert counts["idempotency_keys"] == 1 and counts["magic_links"] == 1
    assert counts["webhook_bodies"] >= 1 and counts["gateway_responses"] >= 1
    with app.app_context():
        assert db.session.execute(sa.select(IdempotencyKey.key)).scalars().all() == ["new"]
        assert db.session.execute(sa.select(MagicLink.email)).scalars().all() == ["b@example.com"]
        recent_bodies = (
            db.session.execute(sa.select(WebhookEvent.body).where(WebhookEvent.order_id == recent["orderId"]))
            .scalars()
            .all()
        )
        assert recent_bodies and all(recent_bodies)
        old_bodies = db.session.execute(sa.select(WebhookEvent.body).where(WebhookEvent.order_id == order["orderId"]))
        assert set(old_bodies.scalars()) == {None}
        assert db.session.execute(sa.select(sa.func.count()).select_from(GatewayCall)).scalar() > 0  # rows stay
    assert toss.status(order) == "PAID"


def test_a_refund_asked_while_the_broker_is_down_is_sent_by_reconciliation(app, toss, admin, test_env):
    from chatju import create_app

    order = paid_toss_order(toss)
    down = create_app({**test_env, "REDIS_URL": "redis://127.0.0.1:1/0"})
    answer = down.test_client().post(
        f"/payment/{order['orderId']}/refund", json={"amount": 2000, "reason": "broker down"}, headers=admin
    )
    assert answer.status_code == 202 and answer.get_json()["refund"]["status"] == "pending"  # not a 503 to retry
    with app.app_context():
        db.session.execute(sa.update(Refund).values(updated_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    assert run(app, jobs.reconcile)["refunds"] == 1
    toss.wait_for(order, "PARTIALLY_REFUNDED")
    with app.app_context():
        assert db.session.execute(sa.select(Refund.status)).scalar_one() == "succeeded"


def test_a_pending_effect_is_redriven(app, toss, buyer_id):
    paid_toss_order(toss)
    wait_until(lambda: readings(app, buyer_id) == 1)
    with app.app_context():
        wait_until(
            lambda: (
                db.session.execute(sa.select(OutboxItem.state)).scalars().all() == ["done", "done"]
                or db.session.rollback()
            )
        )
        db.session.execute(
            sa.update(OutboxItem)
            .where(OutboxItem.effect == "receipt_mail")
            .values(state="pending", created_at=utcnow() - timedelta(hours=1))
        )
        db.session.commit()
    assert run(app, jobs.redrive)["effects"] == 1
    with app.app_context():
        wait_until(
            lambda: (
                db.session.execute(sa.select(OutboxItem.state)).scalars().all() == ["done", "done"]
                or db.session.rollback()
            )
        )
    assert readings(app, buyer_id) == 1  # the grant was not repeated


def test_a_refund_seen_at_the_gateway_before_its_task_answers_is_left_to_the_task(app, toss, admin, test_env):
    """Toss's webhook for our own cancel may be processed before our refund task hears back:
    the sync leaves the change to the task, so the ledger records who asked and why."""
    from chatju import create_app
    from chatju.payments import refunds
    from chatju.payments.sync import sync_payment
    from chatju.states import EventSource

    order = paid_toss_order(toss)
    quiet = create_app({**test_env, "REDIS_URL": "redis://127.0.0.1:1/0"})  # its refund task is never sent
    answer = refund(quiet.test_client(), admin, order, amount=2500, reason="asked by phone")
    assert answer.status_code == 202
    # Our cancel reaches Toss (under our refund id), but its answer has not reached us yet.
    toss.toss_cancel(toss.payment(order).payment_key, "asked by phone", 2500, key=answer.get_json()["refund"]["id"])
    with app.app_context():
        payment_id = db.session.execute(sa.select(Payment.id).where(Payment.order_id == order["orderId"])).scalar_one()
        assert sync_payment(payment_id, EventSource.WEBHOOK) == "refund in flight"
        db.session.commit()
    assert toss.status(order) == "PAID"
    with app.app_context():
        pending = db.session.execute(sa.select(Refund.id)).scalar_one()
        assert refunds.run_refund(pending, 0) is None  # the same key: Toss answers with the cancel it made
        db.session.commit()
    assert (toss.status(order), toss.payment(order).refunded_amount) == ("PARTIALLY_REFUNDED", 2500)
    [moved] = [e for e in ledger(app, order["orderId"]) if e.to_status == "PARTIALLY_REFUNDED"]
    assert (moved.actor, moved.reason, moved.source) == ("admin@chatju.app", "asked by phone", "refund")
