"""The Stripe path end to end: the app, a real worker, the sandbox over HTTP, signed webhooks."""

from __future__ import annotations

import http.server
import threading
import time
from urllib.parse import parse_qsl

import pytest
import sqlalchemy as sa
import stripe as stripe_sdk
from stripe.params import PaymentIntentCreateParams
from stripe.params._payment_intent_create_params import PaymentIntentCreateParamsAutomaticPaymentMethods

from chatju.extensions import db
from chatju.gateways.models import GatewayCall
from chatju.gateways.port import CallRecord
from chatju.gateways.stripe.client import StripeApi
from chatju.gateways.stripe.mapping import intent_params
from chatju.payments.models import Payment, PaymentEvent
from chatju.states import LedgerKind
from sandbox.config import SANDBOX_STRIPE_WEBHOOK_SECRET
from tests.support.live import free_port
from tests.support.shopper import wait_until
from tests.support.stripe import StripeShopper, intent_event, sandbox_intent, sandbox_intents, signed

pytestmark = pytest.mark.usefixtures("worker", "live_server")


@pytest.fixture
def shopper(app, client, sandbox, make_user, auth_headers) -> StripeShopper:
    return StripeShopper(app, client, sandbox, auth_headers(make_user("world@example.com")))


def ledger(app, order_id: str) -> list[PaymentEvent]:
    with app.app_context():
        payment_id = db.session.execute(sa.select(Payment.id).where(Payment.order_id == order_id)).scalar_one()
        return list(
            db.session.execute(
                sa.select(PaymentEvent).where(PaymentEvent.payment_id == payment_id).order_by(PaymentEvent.id)
            ).scalars()
        )


def moves(app, order_id: str) -> list[str]:
    return [str(e.to_status) for e in ledger(app, order_id) if e.kind == LedgerKind.TRANSITION]


def stripe_requests(sandbox, operation: str) -> list[dict]:
    return [r for r in sandbox.requests_log(gateway="stripe") if r["operation"] == operation]


def test_create_pay_webhook_paid(app, shopper, sandbox):
    order = shopper.create(productId="premium_reading")
    assert order["provider"] == "stripe" and order["status"] == "PENDING"
    assert (order["amount"], order["currency"]) == (1000, "USD")
    assert order["paymentIntentId"].startswith("pi_") and order["clientSecret"].startswith(order["paymentIntentId"])
    assert order["publishableKey"].startswith("pk_test_")
    assert shopper.read(order)["clientSecret"] == order["clientSecret"]

    redirect = shopper.pay(order)
    assert redirect["params"]["redirect_status"] == "succeeded"
    shopper.wait_for(order, "PAID")
    paid = shopper.read(order)
    assert paid["card"] == {"brand": "visa", "last4": "4242"} and paid["method"] == "card"
    assert paid["receiptUrl"] and paid["paidAt"] and paid["clientSecret"] is None and paid["failure"] is None
    assert moves(app, order["orderId"]) == ["PAID"]
    [create] = stripe_requests(sandbox, "create_intent")
    assert create["idempotencyKey"] == f"create-{order['orderId']}"


def test_a_decline_fails_then_4242_on_the_same_intent_pays(app, shopper):
    order = shopper.create(amount=2500, currency="eur", description="궁합 reading")
    assert order["currency"] == "EUR" and order["orderName"] == "궁합 reading"
    assert shopper.pay(order, card="4000 0000 0000 9995")["params"]["redirect_status"] == "failed"
    shopper.wait_for(order, "FAILED")
    failed = shopper.read(order)
    assert failed["failure"]["code"] == "card_declined"
    assert failed["failure"]["declineCode"] == "insufficient_funds" and failed["failure"]["message"]
    assert failed["clientSecret"] == order["clientSecret"]  # the customer may try another card

    shopper.pay(order)
    shopper.wait_for(order, "PAID")
    assert shopper.read(order)["failure"] is None
    assert moves(app, order["orderId"]) == ["FAILED", "PAID"]


def test_a_generic_decline(shopper):
    order = shopper.create(amount=1000)
    shopper.pay(order, card="4000000000000002")
    shopper.wait_for(order, "FAILED")
    assert shopper.read(order)["failure"]["declineCode"] == "generic_decline"


@pytest.mark.parametrize(("currency", "amount"), [("JPY", 1500), ("KRW", 13000), ("GBP", 30)])
def test_zero_decimal_and_minimum_amounts_are_sent_as_stripe_counts_them(app, shopper, sandbox, currency, amount):
    order = shopper.create(amount=amount, currency=currency)
    with app.app_context():
        call = db.session.execute(sa.select(GatewayCall).where(GatewayCall.operation == "create_intent")).scalar_one()
    assert (call.response["amount"], call.response["currency"]) == (amount, currency.lower())
    assert order["amount"] == amount


@pytest.mark.parametrize(("currency", "amount"), [("USD", 49), ("GBP", 29), ("JPY", 49), ("KRW", 99), ("USD", 10**8)])
def test_amounts_outside_stripes_limits_are_refused_before_any_call(app, shopper, sandbox, currency, amount):
    response = shopper.client.post(
        "/payment/stripe/create", json={"amount": amount, "currency": currency}, headers=shopper.headers
    )
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "AMOUNT_OUT_OF_RANGE"
    assert sandbox.requests_log(gateway="stripe") == []


@pytest.mark.parametrize(
    "body", [{"amount": 1000, "currency": "XYZ"}, {"amount": 10.5}, {"amount": 1000, "orderName": "x"}]
)
def test_create_validation(app, shopper, sandbox, body):
    response = shopper.client.post("/payment/stripe/create", json=body, headers=shopper.headers)
    assert response.status_code == 400
    assert sandbox.requests_log(gateway="stripe") == []


def test_bad_signatures_are_refused_and_nothing_is_stored(app, shopper):
    order = shopper.create(amount=1000)
    event = intent_event(
        {"id": order["paymentIntentId"], "metadata": {"order_id": order["orderId"]}}, "payment_intent.succeeded"
    )
    assert shopper.webhook(event, secret="whsec_someoneElse").status_code == 400
    assert shopper.webhook(event, at=int(time.time()) - 301).status_code == 400
    body, header = signed(event)
    altered = body.replace('"livemode": false', '"livemode": true')
    for data, headers in (
        (altered, {"Stripe-Signature": header}),
        (body, {}),
        (body, {"Stripe-Signature": "t=1,v1=00"}),
    ):
        response = shopper.client.post(
            "/payment/stripe/webhook", data=data, content_type="application/json", headers=headers
        )
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "INVALID_SIGNATURE"
    assert shopper.inbox() == []


def test_a_signed_but_malformed_body_is_400(shopper):
    body = "{not json"
    header = stripe_sdk.WebhookSignature.generate_signature_header(body, SANDBOX_STRIPE_WEBHOOK_SECRET)
    response = shopper.client.post(
        "/payment/stripe/webhook", data=body, content_type="application/json", headers={"Stripe-Signature": header}
    )
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "VALIDATION_ERROR"
    assert shopper.inbox() == []


def test_the_same_event_five_times_has_one_effect(app, shopper, sandbox):
    sandbox.webhooks(gateway="stripe", paused=True)
    order = shopper.create(amount=1000)
    shopper.pay(order)
    intent = sandbox_intent(sandbox, order["paymentIntentId"])
    event = intent_event(intent, "payment_intent.succeeded", event_id="evt_five_times")
    for _ in range(5):
        assert shopper.webhook(event).status_code == 200
    shopper.wait_for(order, "PAID")
    [stored] = shopper.inbox()
    assert stored.deliveries == 5
    wait_until(lambda: shopper.inbox()[0].state == "processed")
    assert moves(app, order["orderId"]) == ["PAID"]


def test_succeeded_delivered_before_processing_ends_paid(app, shopper, sandbox):
    sandbox.webhooks(gateway="stripe", reorder=True, delay_seconds=0.5)
    order = shopper.create(amount=1000)
    sandbox.stripe_process(order["paymentIntentId"])
    sandbox.stripe_succeed(order["paymentIntentId"])
    wait_until(lambda: len([e for e in shopper.inbox() if e.state == "processed"]) >= 2)
    assert shopper.status(order) == "PAID"
    kinds = [e.event_type for e in shopper.inbox()]
    assert kinds.index("payment_intent.succeeded") < kinds.index("payment_intent.processing")


def test_payment_failed_after_succeeded_stays_paid(app, shopper, sandbox):
    order = shopper.create(amount=1000)
    shopper.pay(order)
    shopper.wait_for(order, "PAID")
    sandbox.stripe_event(order["paymentIntentId"], "payment_intent.payment_failed", status="requires_payment_method")
    wait_until(
        lambda: any(e.event_type == "payment_intent.payment_failed" and e.state == "processed" for e in shopper.inbox())
    )
    assert shopper.status(order) == "PAID"
    assert moves(app, order["orderId"]) == ["PAID"]


def test_a_webhook_for_an_unknown_intent_is_recorded_and_ignored(app, shopper):
    event = intent_event(
        {"id": "pi_unknown", "metadata": {"order_id": "ord_notOursAtAll0000000000"}}, "payment_intent.succeeded"
    )
    assert shopper.webhook(event).status_code == 200
    wait_until(lambda: shopper.inbox() and shopper.inbox()[0].state != "received")
    [stored] = shopper.inbox()
    assert stored.state == "ignored" and stored.attempts == 0


def test_unknown_event_types_are_recorded_as_ignored(shopper):
    event = intent_event({"id": "cus_1"}, "customer.created")
    assert shopper.webhook(event).status_code == 200
    assert [e.state for e in shopper.inbox()] == ["ignored"]


def test_an_event_before_the_intent_id_is_stored_is_retried_later(app, shopper, sandbox):
    sandbox.webhooks(gateway="stripe", paused=True)
    order = shopper.create(amount=1000)
    shopper.pay(order)
    intent = sandbox_intent(sandbox, order["paymentIntentId"])
    with app.app_context():  # as if our create had not committed the intent id yet
        db.session.execute(sa.update(Payment).values(payment_intent_id=None))
        db.session.commit()
    assert shopper.webhook(intent_event(intent, "payment_intent.succeeded")).status_code == 200
    wait_until(lambda: shopper.inbox()[0].attempts >= 1)
    assert shopper.status(order) == "PENDING"
    with app.app_context():
        db.session.execute(sa.update(Payment).values(payment_intent_id=order["paymentIntentId"]))
        db.session.commit()
    shopper.wait_for(order, "PAID", timeout=40)
    wait_until(lambda: shopper.inbox()[0].state == "processed")


def test_create_survives_two_server_errors_with_one_key(app, shopper, sandbox):
    sandbox.fault(gateway="stripe", mode="error500", count=2, operation="create_intent")
    order = shopper.create(amount=1000)
    assert order["paymentIntentId"]
    creates = stripe_requests(sandbox, "create_intent")
    assert [r["outcome"] for r in creates] == ["injected_error500", "injected_error500", "executed"]
    assert {r["idempotencyKey"] for r in creates} == {f"create-{order['orderId']}"}
    assert len(sandbox_intents(sandbox)) == 1


def test_a_replayed_saved_500_is_settled_by_searching_not_by_guessing(app, shopper, sandbox):
    sandbox.fault(gateway="stripe", mode="error500_saved", count=1, operation="create_intent")
    order = shopper.create(expect=202, amount=1000)
    wait_until(lambda: stripe_requests(sandbox, "search"), timeout=30)
    wait_until(lambda: any(e.reason == "intent not created yet" for e in ledger(app, order["orderId"])), timeout=30)
    assert shopper.status(order) == "PENDING" and shopper.payment(order).payment_intent_id is None
    assert sandbox_intents(sandbox) == []


def test_a_refund_made_at_stripe_is_imported(app, shopper, sandbox):
    order = shopper.create(amount=1000)
    shopper.pay(order)
    shopper.wait_for(order, "PAID")
    client = stripe_sdk.StripeClient(sandbox.stripe_secret_key, base_addresses={"api": sandbox.stripe_api_base})
    client.v1.refunds.create(params={"payment_intent": order["paymentIntentId"], "amount": 300})
    wait_until(lambda: shopper.read(order)["refundedAmount"] == 300)
    assert shopper.status(order) == "PARTIALLY_REFUNDED"
    client.v1.refunds.create(params={"payment_intent": order["paymentIntentId"]})
    shopper.wait_for(order, "REFUNDED")
    assert shopper.read(order)["refundedAmount"] == 1000
    assert moves(app, order["orderId"]) == ["PAID", "PARTIALLY_REFUNDED", "REFUNDED"]


def test_a_dispute_is_flagged_once(app, shopper, sandbox):
    order = shopper.create(amount=1000)
    shopper.pay(order)
    shopper.wait_for(order, "PAID")
    sandbox.stripe_dispute(order["paymentIntentId"])
    wait_until(lambda: "DISPUTED" in shopper.read(order)["flags"])
    flags = [e for e in ledger(app, order["orderId"]) if e.kind == LedgerKind.FLAG]
    assert len(flags) == 1 and shopper.status(order) == "PAID"


def test_idempotency_key_replay_and_conflict(app, shopper):
    headers = {**shopper.headers, "Idempotency-Key": "stripe-order-1"}
    first = shopper.client.post("/payment/stripe/create", json={"amount": 1000}, headers=headers)
    again = shopper.client.post("/payment/stripe/create", json={"amount": 1000}, headers=headers)
    assert first.status_code == again.status_code == 201 and first.get_json() == again.get_json()
    other = shopper.client.post("/payment/stripe/create", json={"amount": 2000}, headers=headers)
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Payment)).scalar() == 1


def test_client_secret_is_for_the_owner_only(shopper, client, make_user, auth_headers):
    order = shopper.create(amount=1000)
    response = client.get(f"/payment/{order['orderId']}", headers=auth_headers(make_user("peek@example.com")))
    assert response.status_code == 404


CAPTURED: list[tuple[dict, str]] = []


class _Capture(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        CAPTURED.append((dict(self.headers), body))
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": {"type": "api_error", "message": "captured"}}')

    def log_message(self, *args: object) -> None:
        pass


def test_create_params_meet_the_official_sdks_expectations():
    params = intent_params("ord_abcdefghijklmnopqrstuv", 7, 1500, "JPY", "Premium")
    assert set(params) <= set(PaymentIntentCreateParams.__annotations__)
    assert PaymentIntentCreateParams.__required_keys__ <= set(params)
    assert set(params["automatic_payment_methods"]) <= set(
        PaymentIntentCreateParamsAutomaticPaymentMethods.__annotations__
    )
    assert all(isinstance(v, str) for v in params["metadata"].values())  # Stripe metadata values are strings

    port = free_port()
    server = http.server.HTTPServer(("127.0.0.1", port), _Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    calls: list[CallRecord] = []
    try:
        gateway = StripeApi("sk_test_capture", f"http://127.0.0.1:{port}", 5, calls.append)
        with pytest.raises(Exception, match="captured"):
            gateway.create_intent("ord_abcdefghijklmnopqrstuv", 7, 1500, "JPY", "Premium")
    finally:
        server.shutdown()
        server.server_close()
    headers, body = CAPTURED[-1]
    form = dict(parse_qsl(body))
    assert form == {
        "amount": "1500",
        "currency": "jpy",
        "automatic_payment_methods[enabled]": "true",
        "metadata[order_id]": "ord_abcdefghijklmnopqrstuv",
        "metadata[user_id]": "7",
        "description": "Premium",
    }
    assert headers["Idempotency-Key"] == "create-ord_abcdefghijklmnopqrstuv"
    assert headers["Authorization"] == "Bearer sk_test_capture"
    assert headers["Stripe-Version"] == stripe_sdk.api_version
    assert calls[-1].outcome == "error" and calls[-1].http_status == 500


def test_a_concurrent_repeat_of_a_create_is_in_use_not_replayed(app, shopper, sandbox):
    sandbox.fault(gateway="stripe", latency_ms=1500)  # the first create waits on Stripe
    headers = {**shopper.headers, "Idempotency-Key": "slow-create"}
    results: dict[str, int] = {}

    def first() -> None:
        results["first"] = (
            app.test_client().post("/payment/stripe/create", json={"amount": 1000}, headers=headers).status_code
        )

    thread = threading.Thread(target=first)
    thread.start()
    wait_until(lambda: shopper.inbox() is not None and _orders(app) == 1)
    second = shopper.client.post("/payment/stripe/create", json={"amount": 1000}, headers=headers)
    thread.join()
    assert second.status_code == 409 and second.get_json()["error"]["code"] == "IDEMPOTENCY_KEY_IN_USE"
    assert results["first"] == 201
    replay = shopper.client.post("/payment/stripe/create", json={"amount": 1000}, headers=headers)
    assert replay.status_code == 201 and replay.get_json()["clientSecret"]  # filled from the order, not the store
    with app.app_context():
        stored = db.session.execute(sa.text("SELECT response_body FROM idempotency_keys")).scalar_one()
        assert stored["clientSecret"] is None


def _orders(app) -> int:
    with app.app_context():
        return db.session.execute(sa.select(sa.func.count()).select_from(Payment)).scalar()


def test_a_202_create_shows_the_client_secret_once_the_intent_exists(app, shopper, sandbox, test_env):
    from chatju import create_app

    impatient = create_app({**test_env, "PAYMENT_SYNC_WAIT_SECONDS": "0"})
    response = impatient.test_client().post("/payment/stripe/create", json={"amount": 1000}, headers=shopper.headers)
    assert response.status_code == 202 and response.get_json()["clientSecret"] is None
    order = response.get_json()
    wait_until(lambda: shopper.read(order)["clientSecret"])
    assert shopper.read(order)["paymentIntentId"].startswith("pi_")


def test_a_create_stripe_refuses_ends_failed_with_its_code(app, shopper, sandbox):
    with app.app_context():  # Stripe's own minimum is stricter than ours for this order
        from chatju.gateways import stripe as gateway

        original = dict(gateway.MINIMUMS)
    try:
        gateway.MINIMUMS["KRW"] = 50  # let the order through to Stripe, which wants ₩100
        order = shopper.create(amount=60, currency="KRW", expect=201)
    finally:
        gateway.MINIMUMS.clear()
        gateway.MINIMUMS.update(original)
    assert order["status"] == "FAILED" and order["failure"]["code"] == "amount_too_small"
    assert order["paymentIntentId"] is None


def test_a_saved_500_gives_the_order_up_after_the_search_grace(app, shopper, sandbox):
    from datetime import timedelta

    from chatju import maintenance as jobs
    from chatju.db import utcnow

    sandbox.fault(gateway="stripe", mode="error500_saved", count=1, operation="create_intent")
    order = shopper.create(expect=202, amount=1000)
    wait_until(lambda: any(e.reason == "intent not created yet" for e in ledger(app, order["orderId"])), timeout=30)
    with app.app_context():
        db.session.execute(
            sa.update(Payment).values(
                created_at=utcnow() - timedelta(hours=1), updated_at=utcnow() - timedelta(hours=1)
            )
        )
        db.session.commit()
        jobs.reconcile()
    shopper.wait_for(order, "FAILED")
    assert shopper.read(order)["failure"]["code"] == "api_error"


def test_another_intent_naming_our_order_is_held_for_review(app, shopper, sandbox):
    order = shopper.create(amount=1000)
    client = stripe_sdk.StripeClient(sandbox.stripe_secret_key, base_addresses={"api": sandbox.stripe_api_base})
    stray = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "metadata": {"order_id": order["orderId"]}}
    )
    sandbox.stripe_pay(stray.client_secret)
    wait_until(lambda: "NEEDS_REVIEW" in shopper.read(order)["flags"])
    assert shopper.status(order) == "PENDING"


def test_signature_edge_cases(shopper):
    order = shopper.create(amount=1000)
    event = intent_event(
        {"id": order["paymentIntentId"], "metadata": {"order_id": order["orderId"]}}, "payment_intent.processing"
    )
    body, header = signed(event)
    both = f"{header},v1={'0' * 64},v0={'1' * 64}"  # a rolled secret's extra v1, and test mode's v0
    ok = shopper.client.post(
        "/payment/stripe/webhook", data=body, content_type="application/json", headers={"Stripe-Signature": both}
    )
    assert ok.status_code == 200
    odd = shopper.client.post(
        "/payment/stripe/webhook", data=body, content_type="application/json", headers={"Stripe-Signature": "t=1,v1=é"}
    )
    assert odd.status_code == 400 and odd.get_json()["error"]["code"] == "INVALID_SIGNATURE"


def test_stored_events_keep_no_client_secret(app, shopper):
    order = shopper.create(amount=1000)
    event = intent_event(
        {
            "id": order["paymentIntentId"],
            "client_secret": order["clientSecret"],
            "metadata": {"order_id": order["orderId"]},
        },
        "payment_intent.processing",
    )
    assert shopper.webhook(event).status_code == 200
    [stored] = [e for e in shopper.inbox() if e.event_id == event["id"]]
    assert order["clientSecret"] not in stored.body and "[redacted]" in stored.body


def test_a_second_decline_shows_its_own_reason(shopper):
    order = shopper.create(amount=1000)
    shopper.pay(order, card="4000000000009995")
    wait_until(lambda: (shopper.read(order)["failure"] or {}).get("declineCode") == "insufficient_funds")
    shopper.pay(order, card="4000000000000002")
    wait_until(lambda: shopper.read(order)["failure"]["declineCode"] == "generic_decline")
    assert shopper.status(order) == "FAILED"
