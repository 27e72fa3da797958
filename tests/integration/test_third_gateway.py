"""The port holds: a third gateway, defined only in the tests, runs through the generic core.

FakePay (tests/support/fakepay.py) is registered, an app is built with it, and an order
goes through create, start, payment by webhook, refund (one whose answer is lost and
is found again), reconciliation, expiry and the drift report, using the same core functions the
Celery tasks call. Its tasks go to a queue no worker reads: the test runs them itself,
since the worker process knows only the built-in gateways.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from chatju import create_app
from chatju import maintenance as jobs
from chatju.db import utcnow
from chatju.extensions import db
from chatju.gateways import registry
from chatju.gateways.port import WebhookRejectedError, Window
from chatju.gateways.registry import Registration, UnknownProviderError
from chatju.payments import refunds, service, start
from chatju.payments.drift.report import run_report
from chatju.payments.models import Payment, PaymentEvent, Refund
from chatju.states import LedgerKind, PaymentStatus
from chatju.webhooks import processing
from chatju.webhooks import service as inbox
from chatju.webhooks.models import WebhookEvent
from tests.support import fakepay
from tests.support.fakepay import FakePayServer
from tests.support.services import RUN_ID


@pytest.fixture
def server() -> FakePayServer:
    return FakePayServer()


@pytest.fixture
def fake_app(app: Flask, test_env: dict[str, str], server: FakePayServer) -> Iterator[Flask]:
    registry.register(fakepay.registration(server))
    try:
        yield create_app({**test_env, "CELERY_QUEUE": f"chatju-test-fakepay-{RUN_ID}"})
    finally:
        registry.unregister(fakepay.NAME)


def _open(fake_app: Flask, user_id: int, amount: int = 1500) -> int:
    with fake_app.app_context():
        gateway = registry.gateway(fakepay.NAME)
        payment = service.open_order(user_id, gateway, "USD", amount, "Premium reading", None)
        db.session.commit()
        return payment.id


def _payment(fake_app: Flask, payment_id: int) -> Payment:
    with fake_app.app_context():
        payment = db.session.get_one(Payment, payment_id)
        db.session.expunge(payment)
        return payment


def _started(fake_app: Flask, payment_id: int) -> str:
    with fake_app.app_context():
        assert start.run_start(payment_id, 0) is None
        db.session.commit()
    reference = _payment(fake_app, payment_id).payment_intent_id
    assert reference is not None
    return reference


def _deliver(fake_app: Flask, raw: bytes, headers: dict[str, str]) -> str | None:
    """The webhook route's work (store once, acknowledge), then the worker's."""
    with fake_app.app_context():
        inbox.receive(fakepay.NAME, registry.gateway(fakepay.NAME).read_webhook(raw, headers))
        event_id = db.session.execute(sa.select(sa.func.max(WebhookEvent.id))).scalar_one()
        state = processing.process_event(event_id)
        db.session.commit()
        return str(state) if state else None


def test_a_third_gateway_takes_a_payment_through_the_generic_core(fake_app, server, make_user, auth_headers):
    user_id = make_user()
    payment_id = _open(fake_app, user_id)
    assert _payment(fake_app, payment_id).provider == "fakepay"
    reference = _started(fake_app, payment_id)
    assert _payment(fake_app, payment_id).client_secret == f"{reference}_secret"

    raw, headers = server.pay(reference)
    assert _deliver(fake_app, raw, headers) == "processed"
    paid = _payment(fake_app, payment_id)
    assert (paid.status, paid.method, paid.paid_at is not None) == ("PAID", "card", True)
    assert _deliver(fake_app, raw, headers) is None  # the same delivery again: stored once, nothing to do

    answer = fake_app.test_client().get(f"/payment/{paid.order_id}", headers=auth_headers(user_id)).get_json()
    assert (answer["provider"], answer["status"], answer["paymentIntentId"]) == ("fakepay", "PAID", reference)


def test_a_forged_webhook_for_the_third_gateway_changes_nothing(fake_app, server, make_user):
    payment_id = _open(fake_app, make_user())
    reference = _started(fake_app, payment_id)
    raw, headers = server.webhook("payment.updated", {"id": reference, "order": "x"})
    with fake_app.app_context(), pytest.raises(WebhookRejectedError):
        registry.gateway(fakepay.NAME).read_webhook(raw, {**headers, fakepay.SIGNATURE: "0" * 64})
    response = fake_app.test_client().post("/payment/stripe/webhook", data=raw, headers=headers)
    assert response.status_code == 400  # another gateway's route never takes its deliveries
    assert _payment(fake_app, payment_id).status == "PENDING"


def test_refunds_of_the_third_gateway_reserve_settle_and_recover_a_lost_answer(fake_app, server, make_user):
    payment_id = _open(fake_app, make_user(), amount=3000)
    reference = _started(fake_app, payment_id)
    _deliver(fake_app, *server.pay(reference))
    order_id = _payment(fake_app, payment_id).order_id

    with fake_app.app_context():
        _, first = refunds.request_refund(order_id, 1000, "partial", actor="admin@example.com")
        db.session.commit()
        first_id = first.refund_id
        assert refunds.run_refund(first.id, 0) is None
        db.session.commit()
    assert (_payment(fake_app, payment_id).status, _payment(fake_app, payment_id).refunded_amount) == (
        "PARTIALLY_REFUNDED",
        1000,
    )

    server.refund_answer_lost = 1  # the gateway refunds, then its answer is lost
    with fake_app.app_context():
        _, second = refunds.request_refund(order_id, None, "the rest", actor="admin@example.com")
        db.session.commit()
        second_id = second.refund_id
        assert refunds.run_refund(second.id, retries_done=99) is None  # out of retries: looked up by our id
        db.session.commit()
        states = dict(db.session.execute(sa.select(Refund.refund_id, Refund.status)).all())
    assert states == {first_id: "succeeded", second_id: "succeeded"}
    assert _payment(fake_app, payment_id).status == "REFUNDED"
    assert server.calls.count("refund") == 2  # the lost answer was found, not sent again


def test_reconciliation_and_expiry_ask_the_third_gateway(fake_app, server, make_user):
    user_id = make_user()
    paid_id, open_id = _open(fake_app, user_id), _open(fake_app, user_id)
    server.payments[_started(fake_app, paid_id)].status = "paid"  # paid, and no webhook ever came
    _started(fake_app, open_id)
    with fake_app.app_context():
        db.session.execute(sa.update(Payment).values(updated_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
        assert jobs.reconcile()["payments"] == 2
        a_day_ago = utcnow() - timedelta(days=1)  # a day passes: the reconcile's backoff too
        db.session.execute(sa.update(Payment).values(created_at=a_day_ago, next_attempt_at=a_day_ago))
        db.session.commit()
        assert jobs.expire()["expired"] == 1
    assert _payment(fake_app, paid_id).status == "PAID"
    assert _payment(fake_app, open_id).status == "EXPIRED"
    with fake_app.app_context():
        sources = db.session.execute(
            sa.select(PaymentEvent.source).where(
                PaymentEvent.payment_id == paid_id, PaymentEvent.kind == LedgerKind.TRANSITION
            )
        ).scalars()
        assert set(sources) == {"reconcile"}


def test_the_drift_report_compares_the_third_gateway_through_the_port(fake_app, server, make_user):
    user_id = make_user()
    kept, lost = _open(fake_app, user_id), _open(fake_app, user_id)
    for payment_id in (kept, lost):
        _deliver(fake_app, *server.pay(_started(fake_app, payment_id)))
    del server.payments[_payment(fake_app, lost).payment_intent_id or ""]  # FakePay lost it
    server.payments["fp_elsewhere"] = fakepay.FakePayment("fp_elsewhere", "ord_notOurs000001", 900, "USD", "paid")
    window = Window(utcnow() - timedelta(hours=1), utcnow() + timedelta(minutes=1))
    with fake_app.app_context():
        report = run_report(window, [fakepay.NAME], "cli")
        db.session.commit()
        found = {(d.order_id, str(d.kind), d.payment_id) for d in report.differences}
        assert report.run.checked == {fakepay.NAME: 3} and server.calls.count("list") == 1
    assert found == {
        (_payment(fake_app, lost).order_id, "MISSING_THERE", lost),
        ("ord_notOurs000001", "MISSING_HERE", None),
    }
    assert _payment(fake_app, lost).needs_review and not _payment(fake_app, kept).needs_review


def test_an_unknown_provider_fails_loudly_never_as_another_gateway(app, make_user):
    user_id = make_user()
    with app.app_context():
        payment = service.create_order(user_id, "ghost", 1000, "USD", "left by a removed gateway")
        payment.status = PaymentStatus.PAID
        db.session.commit()
        with pytest.raises(UnknownProviderError):
            refunds.request_refund(payment.order_id, None, "why", actor="admin@example.com")
        event_id, _, _ = inbox.store("ghost", "evt_ghost", "payment.updated", payment.order_id, "{}", {}, None)
        db.session.commit()
        with pytest.raises(UnknownProviderError):
            processing.process_event(event_id)


def test_an_adapter_missing_part_of_the_port_stops_the_app_at_start(test_env, server):
    class Incomplete:
        name = "halfpay"

    registry.register(Registration("halfpay", lambda settings, recorder: Incomplete(), lambda settings: True))
    try:
        with pytest.raises(TypeError, match="does not implement the port"):
            create_app(test_env)
    finally:
        registry.unregister("halfpay")
