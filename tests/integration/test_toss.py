"""The Toss path end to end: the app, a real worker, and the sandbox over HTTP."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests
import sqlalchemy as sa

from chatju.extensions import db
from chatju.gateways.models import GatewayCall
from chatju.payments.models import Payment, PaymentEvent
from chatju.states import LedgerKind
from chatju.webhooks.models import WebhookEvent
from tests.support.shopper import wait_until
from tests.support.toss import TossShopper

pytestmark = pytest.mark.usefixtures("worker", "live_server")


@pytest.fixture
def shopper(app, client, sandbox, make_user, auth_headers) -> TossShopper:
    return TossShopper(app, client, sandbox, auth_headers(make_user("buyer@example.com")))


def ledger(app, order_id: str) -> list[PaymentEvent]:
    with app.app_context():
        payment = db.session.execute(sa.select(Payment).where(Payment.order_id == order_id)).scalar_one()
        return list(
            db.session.execute(
                sa.select(PaymentEvent).where(PaymentEvent.payment_id == payment.id).order_by(PaymentEvent.id)
            ).scalars()
        )


def paid_rows(app, order_id: str) -> list[PaymentEvent]:
    return [e for e in ledger(app, order_id) if e.kind == LedgerKind.TRANSITION and e.to_status == "PAID"]


def confirms(sandbox) -> list[dict]:
    return [r for r in sandbox.requests_log(gateway="toss") if r["operation"] == "confirm"]


def test_happy_path_create_checkout_confirm_paid(app, shopper, sandbox):
    order = shopper.create(productId="premium_reading")
    assert order["status"] == "PENDING" and order["amount"] == 13000 and order["currency"] == "KRW"
    assert order["clientKey"].startswith("test_ck_") and order["customerKey"].startswith("cus_")
    assert order["successUrl"].endswith("/toss/success") and order["failUrl"].endswith("/toss/fail")
    assert len(order["orderId"]) >= 20

    redirect = shopper.checkout(order)
    assert redirect["url"] == "success"
    assert redirect["params"]["orderId"] == order["orderId"] and redirect["params"]["amount"] == "13000"
    response = shopper.confirm(order, redirect["params"]["paymentKey"])
    assert response.status_code == 200, response.get_json()
    paid = response.get_json()
    assert paid["status"] == "PAID"
    assert paid["paymentKey"] == redirect["params"]["paymentKey"]
    assert paid["method"] == "card" and paid["card"]["brand"]
    assert paid["receiptUrl"] and paid["paidAt"].endswith("Z") and paid["failure"] is None
    assert len(paid_rows(app, order["orderId"])) == 1
    with app.app_context():
        [call] = db.session.execute(sa.select(GatewayCall).where(GatewayCall.operation == "confirm")).scalars()
        assert call.idempotency_key == f"confirm-{order['orderId']}-{paid['paymentKey']}"
        assert call.outcome == "ok" and call.http_status == 200
        assert "secret" not in json.dumps(call.response) or call.response.get("secret") in (None, "[redacted]")


def test_amount_tampering_is_refused_before_toss(app, shopper, sandbox):
    order = shopper.create(productId="premium_reading")
    key = shopper.checkout(order)["params"]["paymentKey"]
    response = shopper.confirm(order, key, amount=100)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "AMOUNT_MISMATCH"
    assert confirms(sandbox) == []
    assert shopper.status(order) == "PENDING"


def test_unknown_foreign_and_stripe_orders_are_404(app, shopper, client, make_user, auth_headers):
    order = shopper.create(productId="premium_reading")
    stranger = auth_headers(make_user("stranger@example.com"))
    body = {"paymentKey": "tsbx_any", "orderId": order["orderId"], "amount": 13000}
    assert client.post("/payment/toss/confirm", json=body, headers=stranger).status_code == 404
    body["orderId"] = "ord_doesNotExistAtAll123"
    assert client.post("/payment/toss/confirm", json=body, headers=shopper.headers).status_code == 404
    with app.app_context():
        db.session.execute(sa.update(Payment).values(provider="stripe", currency="USD", amount=1000))
        db.session.commit()
    body.update(orderId=order["orderId"], amount=1000)
    response = client.post("/payment/toss/confirm", json=body, headers=shopper.headers)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "NOT_FOUND"


def test_confirm_needs_a_token(client):
    response = client.post("/payment/toss/confirm", json={"paymentKey": "k", "orderId": "ord_x" * 5, "amount": 1})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "UNAUTHORIZED"


def test_a_wrong_payment_key_leaves_the_order_then_the_right_one_pays(app, shopper):
    order = shopper.create(productId="premium_reading")
    good = shopper.checkout(order)["params"]["paymentKey"]
    wrong = shopper.confirm(order, "tsbxNoSuchPaymentKey000000000000000000000")
    assert wrong.status_code == 400, wrong.get_json()
    assert wrong.get_json()["error"]["code"] == "NOT_FOUND_PAYMENT_SESSION"
    with app.app_context():
        payment = db.session.execute(sa.select(Payment).where(Payment.order_id == order["orderId"])).scalar_one()
        assert (payment.status, payment.payment_key, payment.attempt_key) == ("PENDING", None, None)
    assert shopper.confirm(order, good).get_json()["status"] == "PAID"


def test_twenty_concurrent_confirms_make_one_toss_confirmation(app, shopper, sandbox, pg_database):
    order = shopper.create(productId="premium_reading")
    key = shopper.checkout(order)["params"]["paymentKey"]
    sandbox.fault(gateway="toss", latency_ms=300)  # keep the first confirm in flight a while
    results: list[tuple[int, str]] = []
    barrier = threading.Barrier(20)

    def confirm() -> None:
        local = app.test_client()
        barrier.wait()
        response = local.post(
            "/payment/toss/confirm",
            json={"paymentKey": key, "orderId": order["orderId"], "amount": 13000},
            headers=shopper.headers,
        )
        results.append((response.status_code, response.get_json().get("status")))

    threads = [threading.Thread(target=confirm) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [(200, "PAID")] * 20
    # The row lock lets one request start the attempt; the other nineteen wait for it.
    [sent] = confirms(sandbox)
    assert sent["outcome"] == "executed" and sent["idempotencyKey"] == f"confirm-{order['orderId']}-{key}"
    transitions = [(e.from_status, e.to_status) for e in ledger(app, order["orderId"]) if e.kind == "transition"]
    assert transitions == [("PENDING", "PROCESSING"), ("PROCESSING", "PAID")]


def test_two_server_errors_then_success_reuse_one_idempotency_key(app, shopper, sandbox):
    order = shopper.create(productId="premium_reading")
    key = shopper.checkout(order)["params"]["paymentKey"]
    sandbox.fault(gateway="toss", mode="error500", count=2, operation="confirm")
    response = shopper.confirm(order, key)
    assert response.status_code == 200 and response.get_json()["status"] == "PAID"
    sent = confirms(sandbox)
    assert [r["outcome"] for r in sent] == ["injected_error500", "injected_error500", "executed"]
    assert {r["idempotencyKey"] for r in sent} == {f"confirm-{order['orderId']}-{key}"}
    with app.app_context():
        outcomes = db.session.execute(
            sa.select(GatewayCall.outcome, GatewayCall.http_status)
            .where(GatewayCall.operation == "confirm")
            .order_by(GatewayCall.id)
        ).all()
    assert [tuple(o) for o in outcomes] == [("error", 500), ("error", 500), ("ok", 200)]


def test_a_response_lost_to_a_timeout_is_recovered_by_replay(app, shopper, sandbox):
    order = shopper.create(productId="premium_reading")
    key = shopper.checkout(order)["params"]["paymentKey"]
    # Toss executes the confirm but answers after our 2 s read timeout; no webhook tells us.
    sandbox.webhooks(gateway="toss", paused=True)
    sandbox.fault(gateway="toss", mode="timeout", count=1, operation="confirm", seconds=3)
    shopper.confirm(order, key)
    shopper.wait_for(order, "PAID")
    outcomes = [r["outcome"] for r in confirms(sandbox)]
    assert outcomes[0] == "injected_timeout" and outcomes.count("executed") == 0
    assert "replayed" in outcomes
    assert len(paid_rows(app, order["orderId"])) == 1


def test_a_dropped_connection_is_retried(app, shopper, sandbox):
    order = shopper.create(productId="premium_reading")
    key = shopper.checkout(order)["params"]["paymentKey"]
    sandbox.fault(gateway="toss", mode="drop", count=1, operation="confirm")
    assert shopper.confirm(order, key).get_json()["status"] == "PAID"
    assert [r["outcome"] for r in confirms(sandbox)] == ["dropped", "executed"]


def test_refusal_at_confirm_fails_then_another_card_pays(app, shopper, sandbox):
    order = shopper.create(productId="premium_reading")
    rejected = shopper.checkout(order, card="reject")["params"]["paymentKey"]
    response = shopper.confirm(order, rejected)
    assert response.status_code == 200
    failed = response.get_json()
    assert failed["status"] == "FAILED"
    assert failed["failure"]["code"] == "REJECT_CARD_PAYMENT" and failed["failure"]["message"]
    assert failed["paymentKey"] is None
    assert len(confirms(sandbox)) == 1  # a refusal is not retried

    good = shopper.checkout(order)["params"]["paymentKey"]
    paid = shopper.confirm(order, good).get_json()
    assert paid["status"] == "PAID" and paid["failure"] is None and paid["paymentKey"] == good


def test_a_decline_inside_the_checkout_leaves_the_order_pending(shopper, sandbox):
    order = shopper.create(productId="premium_reading")
    redirect = shopper.checkout(order, card="decline")
    assert redirect["url"] == "fail" and redirect["params"]["code"]
    assert shopper.status(order) == "PENDING"
    assert confirms(sandbox) == []


def test_duplicate_confirm_returns_the_payment_and_another_key_is_refused(shopper):
    order = shopper.create(productId="premium_reading")
    key = shopper.checkout(order)["params"]["paymentKey"]
    first = shopper.confirm(order, key).get_json()
    again = shopper.confirm(order, key)
    assert again.status_code == 200 and again.get_json() == first
    other = shopper.confirm(order, "tsbxAnotherKey00000000000000000000000000")
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "PAYMENT_KEY_MISMATCH"


def test_webhook_delivered_twice_has_one_effect(app, shopper, sandbox):
    sandbox.webhooks(gateway="toss", duplicate=True)
    order = shopper.create(productId="premium_reading")
    shopper.confirm(order, shopper.checkout(order)["params"]["paymentKey"])
    wait_until(lambda: len(sandbox.webhook_log(gateway="toss")) >= 2)
    with app.app_context():
        events = shopper.inbox(order)
        assert len(events) == 1 and events[0].deliveries == 2
    wait_until(lambda: shopper.inbox(order)[0].state == "processed")
    assert len(paid_rows(app, order["orderId"])) == 1


def test_webhooks_out_of_order_end_in_the_gateways_state(app, shopper, sandbox):
    sandbox.webhooks(gateway="toss", reorder=True, delay_seconds=0.5)
    order = shopper.create(productId="premium_reading")
    key = shopper.checkout(order)["params"]["paymentKey"]
    assert shopper.confirm(order, key).get_json()["status"] == "PAID"
    shopper.toss_cancel(key, reason="customer changed their mind")  # Toss-side refund, e.g. in the dashboard
    shopper.wait_for(order, "REFUNDED")
    wait_until(lambda: all(e.state == "processed" for e in shopper.inbox(order)) and len(shopper.inbox(order)) >= 2)
    assert shopper.status(order) == "REFUNDED"
    moves = [(e.from_status, e.to_status) for e in ledger(app, order["orderId"]) if e.kind == LedgerKind.TRANSITION]
    assert moves == [("PENDING", "PROCESSING"), ("PROCESSING", "PAID"), ("PAID", "REFUNDED")]


def test_a_forged_done_webhook_changes_nothing(app, shopper, client, live_server):
    order = shopper.create(productId="premium_reading")
    forged = {
        "eventType": "PAYMENT_STATUS_CHANGED",
        "createdAt": "2026-11-30T20:00:00.000000",
        "data": {"orderId": order["orderId"], "paymentKey": "forged", "status": "DONE", "totalAmount": 13000},
    }
    response = requests.post(f"{live_server.url}/payment/toss/webhook", json=forged, timeout=5)
    assert response.status_code == 200
    wait_until(lambda: shopper.inbox(order) and shopper.inbox(order)[0].state != "received")
    assert shopper.status(order) == "PENDING"
    with app.app_context():
        payment = db.session.execute(sa.select(Payment).where(Payment.order_id == order["orderId"])).scalar_one()
        assert payment.payment_key is None and payment.paid_at is None


def test_a_webhook_for_a_paid_order_does_not_trust_the_body(app, shopper, sandbox, live_server):
    sandbox.webhooks(gateway="toss", paused=True)  # only the lie arrives
    order = shopper.create(productId="premium_reading")
    shopper.confirm(order, shopper.checkout(order)["params"]["paymentKey"])
    lie = {"eventType": "PAYMENT_STATUS_CHANGED", "data": {"orderId": order["orderId"], "status": "CANCELED"}}
    headers = {"tosspayments-webhook-transmission-id": "whtrans_the_lie"}
    response = requests.post(f"{live_server.url}/payment/toss/webhook", json=lie, headers=headers, timeout=5)
    assert response.status_code == 200
    wait_until(
        lambda: [e.state for e in shopper.inbox(order) if e.event_id.startswith("whtrans_the_lie")] == ["processed"]
    )
    assert shopper.status(order) == "PAID"


def test_webhook_route_answers_malformed_and_unknown_events(app, client):
    assert client.post("/payment/toss/webhook", data="{nope", content_type="application/json").status_code == 400
    assert client.post("/payment/toss/webhook", json=[1, 2]).status_code == 400
    unknown = client.post("/payment/toss/webhook", json={"eventType": "BILLING_DELETED", "data": {}})
    assert unknown.status_code == 200
    with app.app_context():
        [event] = db.session.execute(sa.select(WebhookEvent)).scalars()
        assert event.state == "ignored" and event.event_type == "BILLING_DELETED"


def test_webhook_answers_503_when_the_database_is_down(test_env):
    from chatju import create_app

    broken = create_app({**test_env, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"})
    body = {"eventType": "PAYMENT_STATUS_CHANGED", "data": {"orderId": "ord_abcdefghijklmnopqrstu"}}
    response = broken.test_client().post("/payment/toss/webhook", json=body)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "SERVICE_UNAVAILABLE"


def test_webhook_answers_fast(app, client):
    body = {"eventType": "PAYMENT_STATUS_CHANGED", "data": {"orderId": "ord_abcdefghijklmnopqrstu"}}
    started = time.perf_counter()
    for index in range(20):
        response = client.post(
            "/payment/toss/webhook", json=body, headers={"tosspayments-webhook-transmission-id": f"whtrans_{index}"}
        )
        assert response.status_code == 200
    # Store-then-ack: no gateway call on the request path (a coarse bound, not a benchmark).
    assert (time.perf_counter() - started) / 20 < 0.5


def test_virtual_account_deposit_callback_pays_the_order(app, shopper, sandbox):
    order = shopper.create(productId="premium_reading")
    key = shopper.checkout(order, card="virtual_account")["params"]["paymentKey"]
    waiting = shopper.confirm(order, key)
    assert waiting.status_code == 202 and waiting.get_json()["status"] == "PROCESSING"
    assert waiting.get_json()["method"] == "virtual_account" and waiting.get_json()["paymentKey"] == key
    sandbox.deposit(order["orderId"])
    shopper.wait_for(order, "PAID")
    types = {e.event_type for e in shopper.inbox(order)}
    assert "DEPOSIT_CALLBACK" in types


def test_a_deposit_callback_with_a_wrong_secret_is_ignored(app, shopper, live_server):
    order = shopper.create(productId="premium_reading")
    shopper.confirm(order, shopper.checkout(order, card="virtual_account")["params"]["paymentKey"])
    forged = {
        "createdAt": "2026-11-30T20:00:00.000000",
        "secret": "ps_guess",
        "status": "DONE",
        "orderId": order["orderId"],
    }
    assert requests.post(f"{live_server.url}/payment/toss/webhook", json=forged, timeout=5).status_code == 200
    wait_until(lambda: any(e.event_type == "DEPOSIT_CALLBACK" and e.state == "ignored" for e in shopper.inbox(order)))
    assert shopper.status(order) == "PROCESSING"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "VALIDATION_ERROR"),
        ({"amount": 13000.0}, 400, "VALIDATION_ERROR"),
        ({"amount": "13000"}, 400, "VALIDATION_ERROR"),
        ({"amount": True}, 400, "VALIDATION_ERROR"),
        ({"amount": 99}, 400, "AMOUNT_OUT_OF_RANGE"),
        ({"amount": 10**9}, 400, "AMOUNT_OUT_OF_RANGE"),
        ({"productId": "premium_reading", "amount": 12000}, 400, "AMOUNT_MISMATCH"),
        ({"productId": "no_such_thing"}, 400, "VALIDATION_ERROR"),
        ({"amount": 5000, "orderName": "x" * 101}, 400, "VALIDATION_ERROR"),
        ({"amount": 5000, "currency": "KRW"}, 400, "VALIDATION_ERROR"),
    ],
)
def test_create_validation_changes_nothing(app, shopper, body, status, code):
    response = shopper.client.post("/payment/toss/create", json=body, headers=shopper.headers)
    assert response.status_code == status and response.get_json()["error"]["code"] == code
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Payment)).scalar() == 0


def test_create_with_an_amount_and_a_name(shopper):
    order = shopper.create(amount=5000, orderName="궁합 풀이")
    assert order["amount"] == 5000 and order["orderName"] == "궁합 풀이"


def test_create_needs_a_token(client):
    assert client.post("/payment/toss/create", json={"productId": "premium_reading"}).status_code == 401


def test_idempotency_key_replays_and_detects_reuse(app, shopper):
    headers = {**shopper.headers, "Idempotency-Key": "order-attempt-1"}
    first = shopper.client.post("/payment/toss/create", json={"productId": "premium_reading"}, headers=headers)
    again = shopper.client.post(
        "/payment/toss/create",
        data='{ "productId" : "premium_reading" }',
        headers=headers,
        content_type="application/json",
    )
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    other = shopper.client.post("/payment/toss/create", json={"amount": 5000}, headers=headers)
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Payment)).scalar() == 1


def test_idempotency_key_is_per_user_and_validation_failures_are_not_remembered(app, shopper, make_user, auth_headers):
    headers = {**shopper.headers, "Idempotency-Key": "k-123"}
    bad = shopper.client.post("/payment/toss/create", json={"amount": 1}, headers=headers)
    assert bad.status_code == 400
    good = shopper.client.post("/payment/toss/create", json={"amount": 5000}, headers=headers)
    assert good.status_code == 201
    someone = {**auth_headers(make_user("other@example.com")), "Idempotency-Key": "k-123"}
    theirs = shopper.client.post("/payment/toss/create", json={"amount": 5000}, headers=someone)
    assert theirs.status_code == 201 and theirs.get_json()["orderId"] != good.get_json()["orderId"]


def test_idempotency_key_in_use_is_409(app, shopper):
    from chatju.db import utcnow
    from chatju.idempotency.models import IdempotencyKey, KeyState
    from chatju.idempotency.service import request_hash

    body = json.dumps({"amount": 5000}).encode()
    with app.app_context():
        user_id = db.session.execute(sa.text("SELECT id FROM users WHERE email='buyer@example.com'")).scalar()
        db.session.add(
            IdempotencyKey(
                user_id=user_id,
                route="toss.create",
                key="busy",
                request_hash=request_hash(body),
                state=KeyState.IN_PROGRESS,
                created_at=utcnow(),
            )
        )
        db.session.commit()
    response = shopper.client.post(
        "/payment/toss/create",
        data=body,
        content_type="application/json",
        headers={**shopper.headers, "Idempotency-Key": "busy"},
    )
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "IDEMPOTENCY_KEY_IN_USE"


def test_idempotency_key_too_long_is_400(shopper):
    headers = {**shopper.headers, "Idempotency-Key": "x" * 256}
    response = shopper.client.post("/payment/toss/create", json={"amount": 5000}, headers=headers)
    assert response.status_code == 400


def test_a_webhook_stored_while_no_worker_runs_is_processed_when_one_starts(app, shopper, sandbox, test_env, tmp_path):
    from chatju import create_app
    from tests.support.worker import WorkerProcess

    sandbox.webhooks(gateway="toss", paused=True)  # the sandbox's own delivery is not the one under test
    env = {**test_env, "CELERY_QUEUE": test_env["CELERY_QUEUE"] + "-idle"}
    idle_app = create_app(env)
    order = shopper.create(productId="premium_reading")
    paid_at_toss = shopper.toss_confirm(order, shopper.checkout(order)["params"]["paymentKey"])
    body = {"eventType": "PAYMENT_STATUS_CHANGED", "createdAt": "2026-11-30T20:00:00.000000", "data": paid_at_toss}
    response = idle_app.test_client().post(
        "/payment/toss/webhook", json=body, headers={"tosspayments-webhook-transmission-id": "whtrans_idle"}
    )
    assert response.status_code == 200
    time.sleep(1)
    assert [e.state for e in shopper.inbox(order)] == ["received"]
    assert shopper.status(order) == "PENDING"
    worker = WorkerProcess(env, tmp_path / "idle-worker.log").start()
    try:
        shopper.wait_for(order, "PAID")
        wait_until(lambda: shopper.inbox(order)[0].state == "processed")
    finally:
        worker.stop()


def test_the_order_can_be_read_by_its_owner_only(shopper, client, make_user, auth_headers):
    order = shopper.create(productId="premium_reading")
    mine = client.get(f"/payment/{order['orderId']}", headers=shopper.headers)
    assert mine.status_code == 200 and mine.get_json()["orderId"] == order["orderId"]
    keys = {
        "orderId",
        "provider",
        "status",
        "amount",
        "currency",
        "orderName",
        "refundedAmount",
        "paymentKey",
        "paymentIntentId",
        "clientSecret",
        "method",
        "card",
        "receiptUrl",
        "failure",
        "flags",
        "createdAt",
        "updatedAt",
        "paidAt",
    }
    assert set(mine.get_json()) == keys
    theirs = client.get(f"/payment/{order['orderId']}", headers=auth_headers(make_user("nosy@example.com")))
    missing = client.get("/payment/ord_noSuchOrderAnywhere000", headers=shopper.headers)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.get_json() == missing.get_json()


def test_a_confirm_whose_answer_was_lost_is_resolved_by_already_processed(app, shopper, sandbox):
    order = shopper.create(productId="premium_reading")
    key = shopper.checkout(order)["params"]["paymentKey"]
    sandbox.webhooks(gateway="toss", paused=True)
    shopper.toss_confirm(order, key)  # Toss confirmed; we never heard (another key, so no replay)
    response = shopper.confirm(order, key)
    assert response.status_code == 200 and response.get_json()["status"] == "PAID"
    assert [r["outcome"] for r in confirms(sandbox)][-1] in ("rejected", "executed")
    fetched = [r for r in sandbox.requests_log(gateway="toss") if r["operation"] == "fetch"]
    assert fetched, "ALREADY_PROCESSED_PAYMENT is resolved by fetching the payment"


def test_retries_exhausted_leave_the_attempt_processing_until_toss_knows(app, shopper, sandbox):
    order = shopper.create(productId="premium_reading")
    key = shopper.checkout(order)["params"]["paymentKey"]
    sandbox.webhooks(gateway="toss", paused=True)
    sandbox.fault(gateway="toss", mode="error500", count=20, operation="confirm")
    response = shopper.confirm(order, key)
    assert response.status_code == 202 and response.get_json()["status"] == "PROCESSING"
    # 1 try + GATEWAY_MAX_RETRIES (4) retries, then a fetch by order id before deciding anything.
    wait_until(lambda: any(r["operation"] == "fetch" for r in sandbox.requests_log(gateway="toss")), timeout=60)
    time.sleep(0.5)
    assert len(confirms(sandbox)) == 5
    payment = shopper.payment(order)
    assert (payment.status, payment.attempt_key) == ("PROCESSING", key)  # unknown: not guessed
    sandbox.clear_faults()
    sandbox.webhooks(gateway="toss", paused=False)
    shopper.toss_confirm(order, key)  # Toss completes it after all; its webhook tells us
    shopper.wait_for(order, "PAID")


def test_an_abandoned_checkout_expiring_at_toss_leaves_the_order_pending(app, shopper, sandbox):
    order = shopper.create(productId="premium_reading")
    shopper.checkout(order)  # authenticated, never confirmed by us
    sandbox.expire(order["orderId"])
    wait_until(lambda: shopper.inbox(order) and all(e.state != "received" for e in shopper.inbox(order)))
    assert shopper.status(order) == "PENDING"


def test_many_webhooks_for_one_order_cost_one_fetch(app, shopper, sandbox, test_env, tmp_path):
    from chatju import create_app
    from tests.support.worker import WorkerProcess

    sandbox.webhooks(gateway="toss", paused=True)
    env = {**test_env, "CELERY_QUEUE": test_env["CELERY_QUEUE"] + "-burst"}
    burst_app = create_app(env)
    order = shopper.create(productId="premium_reading")
    paid = shopper.toss_confirm(order, shopper.checkout(order)["params"]["paymentKey"])
    body = {"eventType": "PAYMENT_STATUS_CHANGED", "createdAt": "2026-11-30T20:00:00.000000", "data": paid}
    for index in range(5):
        headers = {"tosspayments-webhook-transmission-id": f"whtrans_burst_{index}"}
        assert burst_app.test_client().post("/payment/toss/webhook", json=body, headers=headers).status_code == 200
    before = len(sandbox.requests_log(gateway="toss"))
    worker = WorkerProcess(env, tmp_path / "burst-worker.log").start()
    try:
        wait_until(lambda: all(e.state == "processed" for e in shopper.inbox(order)) and len(shopper.inbox(order)) == 5)
    finally:
        worker.stop()
    fetches = [r for r in sandbox.requests_log(gateway="toss")[before:] if r["operation"] == "fetch"]
    assert len(fetches) == 1
    assert shopper.status(order) == "PAID"


def test_webhooks_are_rate_limited_per_source_address(test_env):
    from chatju import create_app

    limited = create_app(
        {**test_env, "RATE_LIMIT_WEBHOOK": "3 per minute", "REDIS_KEY_PREFIX": test_env["REDIS_KEY_PREFIX"] + "wh:"}
    )
    client = limited.test_client()
    body = {"eventType": "BILLING_DELETED", "data": {}}
    codes = [client.post("/payment/toss/webhook", json={**body, "n": n}).status_code for n in range(4)]
    assert codes == [200, 200, 200, 429]
    tosses = [
        client.post(
            "/payment/toss/webhook", json={**body, "n": n}, environ_base={"REMOTE_ADDR": "13.124.18.147"}
        ).status_code
        for n in range(4)
    ]
    assert tosses == [200] * 4  # Toss's own addresses are not limited


def test_a_wrapped_deposit_callback_with_the_right_secret_is_applied(app, shopper, sandbox, live_server):
    sandbox.webhooks(gateway="toss", paused=True)
    order = shopper.create(productId="premium_reading")
    shopper.confirm(order, shopper.checkout(order, card="virtual_account")["params"]["paymentKey"])
    secret = shopper.payment(order).gateway_secret
    assert secret and secret.startswith("ps_")
    sandbox.deposit(order["orderId"])  # Toss's state changes; its own webhooks stay paused
    wrapped = {
        "createdAt": "2026-11-30T20:00:00.000000",
        "data": {"secret": secret, "status": "DONE", "orderId": order["orderId"]},
    }
    assert requests.post(f"{live_server.url}/payment/toss/webhook", json=wrapped, timeout=5).status_code == 200
    shopper.wait_for(order, "PAID")
    assert [e.event_type for e in shopper.inbox(order)] == ["DEPOSIT_CALLBACK"]


def test_a_confirm_the_broker_refused_is_sent_again_on_the_next_confirm(app, shopper, sandbox, test_env):
    from chatju import create_app

    order = shopper.create(productId="premium_reading")
    key = shopper.checkout(order)["params"]["paymentKey"]
    down = create_app({**test_env, "REDIS_URL": "redis://127.0.0.1:1/0"})
    response = down.test_client().post(
        "/payment/toss/confirm",
        json={"paymentKey": key, "orderId": order["orderId"], "amount": 13000},
        headers=shopper.headers,
    )
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert confirms(sandbox) == []
    again = shopper.confirm(order, key)
    assert again.status_code == 200 and again.get_json()["status"] == "PAID"


def test_a_deeply_nested_body_is_a_400_not_a_500(client, shopper):
    deep = "[" * 20000 + "]" * 20000
    assert client.post("/payment/toss/webhook", data=deep, content_type="application/json").status_code == 400
    response = client.post("/payment/toss/create", data=deep, content_type="application/json", headers=shopper.headers)
    assert response.status_code == 400
