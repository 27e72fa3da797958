"""The Toss half of the gateway sandbox, over real HTTP, as the service and the tests will use it."""

from __future__ import annotations

import base64
import secrets
import threading
import time
from typing import Any

import pytest
import requests

from tests.sandbox.receiver import WebhookReceiver, wait_until
from tests.support.sandbox import SandboxError, SandboxProcess

RETRY_BASE = 0.05
TIMEOUT = 5


@pytest.fixture(scope="module")
def receiver():
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, receiver):
    env = {
        "SANDBOX_TOSS_WEBHOOK_URL": receiver.url,
        "SANDBOX_WEBHOOK_RETRY_SECONDS": str(RETRY_BASE),
        "SANDBOX_WEBHOOK_TIMEOUT_SECONDS": "2",
    }
    process = SandboxProcess(tmp_path_factory.mktemp("sandbox") / "sandbox.log", env).start()
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def fresh(sandbox, receiver):
    sandbox.reset()
    receiver.reset()


class Toss:
    """The calls the service makes, with the sandbox's secret key."""

    def __init__(self, sandbox: SandboxProcess, secret: str | None = None):
        self.base = sandbox.toss_api_base
        key = secret if secret is not None else sandbox.toss_secret_key
        self.headers = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}

    def post(self, path: str, body: Any, key: str | None = None, timeout: float = TIMEOUT) -> requests.Response:
        headers = {**self.headers, **({"Idempotency-Key": key} if key else {})}
        return requests.post(self.base + path, json=body, headers=headers, timeout=timeout)

    def get(self, path: str, timeout: float = TIMEOUT) -> requests.Response:
        return requests.get(self.base + path, headers=self.headers, timeout=timeout)

    def confirm(self, params: dict[str, str], key: str | None = None, timeout: float = TIMEOUT, **changes: Any):
        body = {"paymentKey": params["paymentKey"], "orderId": params["orderId"], "amount": int(params["amount"])}
        return self.post("/v1/payments/confirm", {**body, **changes}, key=key, timeout=timeout)

    def cancel(self, payment_key: str, reason: str = "고객 요청", key: str | None = None, **body: Any):
        return self.post(f"/v1/payments/{payment_key}/cancel", {"cancelReason": reason, **body}, key=key)


@pytest.fixture
def toss(sandbox):
    return Toss(sandbox)


def new_order_id() -> str:
    return "order_" + secrets.token_urlsafe(12)


def authorise(sandbox: SandboxProcess, card: str = "success", amount: int = 13000, **kwargs: Any) -> dict[str, str]:
    """The customer pays in the checkout; returns the successUrl's query."""
    went = sandbox.checkout(order_id=kwargs.pop("order_id", None) or new_order_id(), amount=amount, card=card, **kwargs)
    assert went["url"] == "success", went
    return went["params"]


def outcomes(sandbox: SandboxProcess, operation: str) -> list[str]:
    return [entry["outcome"] for entry in sandbox.requests_log() if entry["operation"] == operation]


# Authentication and routes


def test_the_api_wants_the_secret_key_with_a_trailing_colon(sandbox):
    url = f"{sandbox.toss_api_base}/v1/payments/orders/order_missing"
    cases = {
        None: (401, "UNAUTHORIZED_KEY"),
        "Basic " + base64.b64encode(b"test_sk_wrong:").decode(): (401, "UNAUTHORIZED_KEY"),
        "Basic " + base64.b64encode(sandbox.toss_secret_key.encode()).decode(): (403, "INCORRECT_BASIC_AUTH_FORMAT"),
        "Basic not-base64!": (403, "INCORRECT_BASIC_AUTH_FORMAT"),
        "Bearer " + sandbox.toss_secret_key: (403, "INCORRECT_BASIC_AUTH_FORMAT"),
    }
    for header, (status, code) in cases.items():
        response = requests.get(url, headers={"Authorization": header} if header else {}, timeout=TIMEOUT)
        assert (response.status_code, response.json()["code"]) == (status, code), header
        assert set(response.json()) == {"code", "message"}
    assert Toss(sandbox).get("/v1/payments/orders/order_missing").json()["code"] == "NOT_FOUND_PAYMENT"
    assert set(outcomes(sandbox, "fetch")) == {"rejected"}


def test_unknown_routes_under_toss_answer_toss_404(toss):
    for response in (toss.get("/v1/nothing-here"), toss.post("/v2/payments/confirm", {})):
        assert response.status_code == 404
        assert response.json()["code"] == "NOT_FOUND"


# The hosted checkout


def test_checkout_page_shows_the_order_and_the_test_cards(sandbox):
    query = {
        "clientKey": sandbox.toss_client_key, "customerKey": "cust_1", "orderId": new_order_id(),
        "orderName": "프리미엄 사주", "amount": "13000", "successUrl": "http://127.0.0.1/s", "failUrl": "http://127.0.0.1/f",
    }  # fmt: skip
    page = requests.get(f"{sandbox.toss_api_base}/checkout", params=query, timeout=TIMEOUT)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    for text in ("프리미엄 사주", "13,000원", query["orderId"], 'value="decline"', 'value="virtual_account"'):
        assert text in page.text
    bad = {"clientKey": "test_ck_other", "orderId": "abc", "amount": "0", "orderName": "", "successUrl": "ftp://x"}
    refused = requests.get(f"{sandbox.toss_api_base}/checkout", params={**query, **bad}, timeout=TIMEOUT)
    assert refused.status_code == 400
    for problem in ("clientKey", "orderId", "amount", "orderName", "successUrl"):
        assert problem in refused.text


def test_checkout_redirects_for_each_card(sandbox):
    for card in ("success", "reject", "virtual_account"):
        order_id = new_order_id()
        went = sandbox.checkout(order_id=order_id, amount=5000, card=card, success_url="http://127.0.0.1/ok?lang=ko")
        assert went["url"] == "success"
        assert went["location"].startswith("http://127.0.0.1/ok?lang=ko&paymentType=NORMAL&")
        params = went["params"]
        assert (params["orderId"], params["amount"], params["paymentType"]) == (order_id, "5000", "NORMAL")
        assert params["paymentKey"].startswith("tsbx") and len(params["paymentKey"]) == 44
    declined = sandbox.checkout(order_id=new_order_id(), amount=5000, card="decline")
    assert declined["url"] == "fail" and declined["params"]["code"] == "REJECT_CARD_COMPANY"
    assert declined["params"]["message"] and declined["params"]["orderId"]
    assert "%EA%B2%B0%EC%A0%9C" in declined["location"]  # the Korean message, URL-encoded
    cancelled = sandbox.checkout(order_id=new_order_id(), amount=5000, card="cancel")
    assert cancelled["url"] == "fail" and cancelled["params"]["code"] == "PAY_PROCESS_CANCELED"
    toss = Toss(sandbox)
    assert toss.get(f"/v1/payments/orders/{declined['params']['orderId']}").status_code == 404


def test_checkout_refuses_an_order_already_paid(sandbox, toss):
    params = authorise(sandbox)
    assert toss.confirm(params).status_code == 200
    again = sandbox.checkout(order_id=params["orderId"], amount=13000)
    assert again["url"] == "fail" and again["params"]["code"] == "DUPLICATED_ORDER_ID"


# Confirm


def test_confirm_answers_a_full_done_payment_object(sandbox, toss):
    params = authorise(sandbox, amount=13000, order_name="프리미엄 사주 풀이")
    before = toss.get(f"/v1/payments/{params['paymentKey']}").json()
    assert before["status"] == "IN_PROGRESS" and before["approvedAt"] is None
    response = toss.confirm(params, amount=params["amount"])  # as a string, like Toss's sample
    assert response.status_code == 200, response.text
    payment = response.json()
    assert payment["paymentKey"] == params["paymentKey"] and payment["orderId"] == params["orderId"]
    assert payment["status"] == "DONE" and payment["method"] == "카드" and payment["currency"] == "KRW"
    assert payment["totalAmount"] == payment["balanceAmount"] == 13000
    assert (payment["suppliedAmount"], payment["vat"]) == (11818, 1182)
    assert payment["approvedAt"].endswith("+09:00") and payment["requestedAt"].endswith("+09:00")
    assert payment["secret"] is None and payment["failure"] is None and payment["cancels"] is None
    assert payment["card"]["number"].count("*") >= 4 and payment["card"]["amount"] == 13000
    assert (payment["version"], payment["type"], payment["mId"]) == ("2022-11-16", "NORMAL", "tsandbox")
    assert payment["orderName"] == "프리미엄 사주 풀이" and payment["lastTransactionKey"]
    receipt = requests.get(payment["receipt"]["url"], timeout=TIMEOUT)
    assert receipt.status_code == 200 and params["orderId"] in receipt.text


def test_confirm_refuses_a_wrong_key_order_or_amount(sandbox, toss):
    params = authorise(sandbox)
    for changes in ({"paymentKey": "tsbx" + "x" * 40}, {"orderId": new_order_id()}):
        response = toss.confirm(params, **changes)
        assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND_PAYMENT_SESSION")
    wrong_amount = toss.confirm(params, amount=12000)
    assert (wrong_amount.status_code, wrong_amount.json()["code"]) == (400, "INVALID_REQUEST")
    malformed = toss.post("/v1/payments/confirm", {"paymentKey": params["paymentKey"]})
    assert (malformed.status_code, malformed.json()["code"]) == (400, "INVALID_REQUEST")
    assert toss.get(f"/v1/payments/{params['paymentKey']}").json()["status"] == "IN_PROGRESS"
    assert toss.confirm(params).json()["status"] == "DONE"
    second = toss.confirm(params)
    assert (second.status_code, second.json()["code"]) == (400, "ALREADY_PROCESSED_PAYMENT")


def test_reject_card_is_refused_at_confirm_and_aborted(sandbox, toss):
    params = authorise(sandbox, card="reject")
    response = toss.confirm(params)
    assert response.status_code == 403
    rejected = {"code": "REJECT_CARD_PAYMENT", "message": "한도초과 혹은 잔액부족으로 결제에 실패했습니다."}
    assert response.json() == rejected
    payment = toss.get(f"/v1/payments/{params['paymentKey']}").json()
    assert payment["status"] == "ABORTED" and payment["failure"]["code"] == "REJECT_CARD_PAYMENT"
    # The customer tries another card on the same order: the lookup by order now finds the DONE one.
    retry = authorise(sandbox, order_id=params["orderId"])
    assert toss.get(f"/v1/payments/orders/{params['orderId']}").json()["status"] == "IN_PROGRESS"
    assert toss.confirm(retry).status_code == 200
    by_order = toss.get(f"/v1/payments/orders/{params['orderId']}").json()
    assert (by_order["paymentKey"], by_order["status"]) == (retry["paymentKey"], "DONE")
    missing = toss.get(f"/v1/payments/{'tsbx' + 'y' * 40}")
    assert (missing.status_code, missing.json()["code"]) == (404, "NOT_FOUND_PAYMENT")


# Idempotency


def test_a_repeated_key_replays_the_first_response(sandbox, toss):
    params = authorise(sandbox)
    first = toss.confirm(params, key="confirm-1")
    second = toss.confirm(params, key="confirm-1")
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.content == second.content
    assert outcomes(sandbox, "confirm") == ["executed", "replayed"]
    other_key = toss.confirm(params, key="confirm-2")
    assert other_key.json()["code"] == "ALREADY_PROCESSED_PAYMENT"
    assert toss.confirm(params, key="confirm-2").content == other_key.content  # errors are replayed too
    too_long = toss.confirm(params, key="k" * 301)
    assert (too_long.status_code, too_long.json()["code"]) == (400, "INVALID_IDEMPOTENCY_KEY")
    log = [e for e in sandbox.requests_log() if e["operation"] == "confirm"]
    assert [e["executed"] for e in log] == [True, False, True, False, False]
    assert log[0]["idempotencyKey"] == "confirm-1" and log[0]["path"] == "/toss/v1/payments/confirm"


def test_a_repeat_while_the_first_runs_gets_409(sandbox, toss):
    params = authorise(sandbox)
    sandbox.fault(mode="timeout", seconds=1.2, operation="confirm")
    results: dict[str, requests.Response] = {}
    first = threading.Thread(target=lambda: results.setdefault("first", toss.confirm(params, key="slow")))
    first.start()
    time.sleep(0.4)  # the first request has claimed the key and is being held
    second = toss.confirm(params, key="slow")
    first.join(timeout=TIMEOUT)
    assert (second.status_code, second.json()["code"]) == (409, "IDEMPOTENT_REQUEST_PROCESSING")
    assert results["first"].status_code == 200
    assert toss.confirm(params, key="slow").content == results["first"].content
    assert sorted(outcomes(sandbox, "confirm")) == ["in_flight", "injected_timeout", "replayed"]


# Lookups and cancels


def test_fetch_by_key_and_by_order(sandbox, toss):
    params = authorise(sandbox)
    confirmed = toss.confirm(params).json()
    assert toss.get(f"/v1/payments/{params['paymentKey']}").json() == confirmed
    assert toss.get(f"/v1/payments/orders/{params['orderId']}").json() == confirmed
    unknown = toss.get(f"/v1/payments/orders/{new_order_id()}")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "NOT_FOUND_PAYMENT")


def test_partial_then_full_cancel(sandbox, toss):
    params = authorise(sandbox, amount=10000)
    key = params["paymentKey"]
    not_yet = toss.cancel(key)
    assert (not_yet.status_code, not_yet.json()["code"]) == (403, "NOT_CANCELABLE_PAYMENT")
    toss.confirm(params)
    assert toss.cancel(key, reason="").json()["code"] == "INVALID_REQUEST"
    assert toss.cancel(key, reason="r" * 201).json()["code"] == "INVALID_REQUEST"
    partial = toss.cancel(key, cancelAmount=3000, key="refund-1")
    assert partial.status_code == 200, partial.text
    payment = partial.json()
    assert (payment["status"], payment["balanceAmount"], payment["totalAmount"]) == ("PARTIAL_CANCELED", 7000, 10000)
    assert payment["cancels"][0]["cancelAmount"] == 3000 and payment["cancels"][0]["cancelStatus"] == "DONE"
    assert toss.cancel(key, cancelAmount=3000, key="refund-1").content == partial.content
    over = toss.cancel(key, cancelAmount=7001)
    assert (over.status_code, over.json()["code"]) == (403, "NOT_CANCELABLE_AMOUNT")
    full = toss.cancel(key, reason="전액 환불").json()
    assert (full["status"], full["balanceAmount"], full["suppliedAmount"], full["vat"]) == ("CANCELED", 0, 0, 0)
    assert [c["cancelAmount"] for c in full["cancels"]] == [3000, 7000]
    assert full["cancels"][1]["cancelReason"] == "전액 환불" and full["cancels"][1]["refundableAmount"] == 0
    assert full["lastTransactionKey"] == full["cancels"][1]["transactionKey"]
    again = toss.cancel(key)
    assert (again.status_code, again.json()["code"]) == (400, "ALREADY_CANCELED_PAYMENT")


# Faults


def test_error500_fails_in_front_without_executing(sandbox, toss):
    params = authorise(sandbox)
    sandbox.fault(mode="error500", operation="confirm", count=2)
    for _ in range(2):
        failed = toss.confirm(params, key="k-500")
        assert (failed.status_code, failed.json()["code"]) == (500, "FAILED_INTERNAL_SYSTEM_PROCESSING")
    assert toss.get(f"/v1/payments/{params['paymentKey']}").json()["status"] == "IN_PROGRESS"
    assert toss.confirm(params, key="k-500").status_code == 200  # the key was never stored
    assert outcomes(sandbox, "confirm") == ["injected_error500", "injected_error500", "executed"]
    assert {e["idempotencyKey"] for e in sandbox.requests_log()} == {"k-500", None}  # None: the fetch


def test_drop_closes_the_connection_without_executing(sandbox, toss):
    params = authorise(sandbox)
    sandbox.fault(mode="drop", operation="confirm")
    with pytest.raises(requests.ConnectionError):
        toss.confirm(params, key="k-drop")
    assert toss.get(f"/v1/payments/{params['paymentKey']}").json()["status"] == "IN_PROGRESS"
    assert toss.confirm(params, key="k-drop").status_code == 200
    log = [e for e in sandbox.requests_log() if e["operation"] == "confirm"]
    assert [(e["outcome"], e["status"]) for e in log] == [("dropped", None), ("executed", 200)]


def test_timeout_loses_the_response_but_not_the_effect(sandbox, toss):
    params = authorise(sandbox)
    sandbox.fault(mode="timeout", seconds=0.6, operation="confirm")
    with pytest.raises(requests.ReadTimeout):
        toss.confirm(params, key="k-timeout", timeout=0.2)
    payment = wait_until(lambda: toss.get(f"/v1/payments/{params['paymentKey']}").json(),
                         lambda p: p["status"] == "DONE", timeout=TIMEOUT)  # fmt: skip
    retry = toss.confirm(params, key="k-timeout")
    assert retry.status_code == 200 and retry.json() == payment
    assert outcomes(sandbox, "confirm") == ["injected_timeout", "replayed"]


def test_a_held_retry_answers_with_what_its_key_holds_after_the_hold(sandbox, toss):
    params = authorise(sandbox)
    sandbox.fault(mode="timeout", seconds=0.5, operation="confirm", count=2)
    with pytest.raises(requests.ReadTimeout):
        toss.confirm(params, key="k-held", timeout=0.1)
    retry = toss.confirm(params, key="k-held")  # held too; by then the first has executed
    assert retry.status_code == 200 and retry.json()["status"] == "DONE"
    log = wait_until(lambda: [e for e in sandbox.requests_log() if e["operation"] == "confirm"], lambda e: len(e) == 2)
    held = sorted((e["outcome"], e["executed"]) for e in log)
    assert held == [("injected_timeout", False), ("injected_timeout", True)]


def test_malformed_cuts_the_answer_short_after_executing(sandbox, toss):
    params = authorise(sandbox)
    sandbox.fault(mode="malformed", operation="confirm", count=2)
    for _ in range(2):  # executed, then replayed: each answer cut short, the status kept
        broken = toss.confirm(params, key="k-malformed")
        assert broken.status_code == 200
        with pytest.raises(ValueError):
            broken.json()
    assert toss.get(f"/v1/payments/{params['paymentKey']}").json()["status"] == "DONE"
    whole = toss.confirm(params, key="k-malformed")  # the key holds the real answer
    assert whole.status_code == 200 and whole.json()["status"] == "DONE"
    log = [e for e in sandbox.requests_log() if e["operation"] == "confirm"]
    assert [(e["outcome"], e["executed"]) for e in log] == [
        ("malformed", True),
        ("malformed", False),
        ("replayed", False),
    ]


def test_faults_match_their_operation_and_latency_applies(sandbox, toss):
    params = authorise(sandbox)
    sandbox.fault(mode="error500", operation="cancel")
    assert toss.get(f"/v1/payments/{params['paymentKey']}").status_code == 200
    assert toss.confirm(params).status_code == 200
    assert toss.cancel(params["paymentKey"]).status_code == 500
    assert sandbox.control("GET", "/faults")["faults"] == []
    sandbox.fault(latency_ms=300)
    started = time.monotonic()
    toss.get(f"/v1/payments/{params['paymentKey']}")
    assert time.monotonic() - started >= 0.3
    sandbox.clear_faults()
    with pytest.raises(SandboxError):
        sandbox.fault(mode="explode")
    with pytest.raises(SandboxError):
        sandbox.fault(mode="timeout")  # needs seconds


# Webhooks


def test_a_status_change_is_delivered_with_toss_headers_and_retried(sandbox, toss, receiver):
    receiver.answer_with(500, 500)
    params = authorise(sandbox)
    toss.confirm(params)
    got = receiver.wait_for(params["orderId"], 3)
    assert [r.answered for r in got] == [500, 500, 200]
    assert len({r.transmission_id for r in got}) == 1 and got[0].transmission_id.startswith("whtrans_")
    assert [r.headers["tosspayments-webhook-transmission-retried-count"] for r in got] == ["0", "1", "2"]
    assert got[0].headers["tosspayments-webhook-transmission-time"].endswith("+09:00")
    assert got[0].headers["content-type"] == "application/json"
    body = got[-1].body
    assert body["eventType"] == "PAYMENT_STATUS_CHANGED" and body["data"]["status"] == "DONE"
    assert "+" not in body["createdAt"] and len(body["createdAt"].split(".")[1]) == 6
    log = sandbox.webhook_log()
    assert [(e["attempt"], e["status"]) for e in log] == [(1, 500), (2, 500), (3, 200)]
    assert log[0]["orderId"] == params["orderId"] and log[0]["url"] == receiver.url
    assert log[0]["body"]["data"]["paymentKey"] == params["paymentKey"]


def test_duplicate_sends_one_delivery_twice(sandbox, toss, receiver):
    sandbox.webhooks(duplicate=True)
    params = authorise(sandbox)
    toss.confirm(params)
    got = receiver.wait_for(params["orderId"], 2)
    time.sleep(0.1)
    assert len(receiver.received(params["orderId"])) == 2
    assert got[0].transmission_id == got[1].transmission_id and got[0].body == got[1].body


def test_reorder_delivers_the_later_event_first(sandbox, toss, receiver):
    sandbox.webhooks(reorder=True, delay_seconds=5)
    params = authorise(sandbox)
    toss.confirm(params)
    time.sleep(0.2)
    assert receiver.received(params["orderId"]) == []  # held until the next event
    toss.cancel(params["paymentKey"])
    got = receiver.wait_for(params["orderId"], 2)
    assert [r.body["data"]["status"] for r in got] == ["CANCELED", "DONE"]


def test_paused_webhooks_go_out_in_order_when_unpaused(sandbox, toss, receiver):
    sandbox.webhooks(paused=True)
    params = authorise(sandbox)
    toss.confirm(params)
    toss.cancel(params["paymentKey"], cancelAmount=1000)
    time.sleep(0.2)
    assert receiver.received(params["orderId"]) == []
    assert sandbox.webhooks(paused=False)["paused"] is False
    got = receiver.wait_for(params["orderId"], 2)
    assert [r.body["data"]["status"] for r in got] == ["DONE", "PARTIAL_CANCELED"]


def test_a_control_webhook_may_lie_about_the_status(sandbox, toss, receiver):
    params = authorise(sandbox)
    toss.confirm(params)
    receiver.wait_for(params["orderId"], 1)
    transmission_id = sandbox.send_webhook(params["orderId"], status="CANCELED")
    got = receiver.wait_for(params["orderId"], 2)
    assert got[1].transmission_id == transmission_id and got[1].body["data"]["status"] == "CANCELED"
    assert toss.get(f"/v1/payments/{params['paymentKey']}").json()["status"] == "DONE"


# Virtual accounts and expiry


def test_virtual_account_waits_for_a_deposit(sandbox, toss, receiver):
    params = authorise(sandbox, card="virtual_account", amount=20000)
    issued = toss.confirm(params).json()
    assert (issued["status"], issued["method"]) == ("WAITING_FOR_DEPOSIT", "가상계좌")
    assert issued["secret"].startswith("ps_") and issued["virtualAccount"]["accountNumber"].startswith("X")
    assert issued["card"] is None and issued["approvedAt"] is None
    partial = toss.cancel(params["paymentKey"], cancelAmount=1000)
    assert (partial.status_code, partial.json()["code"]) == (403, "NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT")
    deposited = sandbox.deposit(params["orderId"])
    assert deposited["status"] == "DONE" and deposited["approvedAt"]
    got = receiver.wait_for(params["orderId"], 4)
    callbacks = [r.body for r in got if r.event_type == "DEPOSIT_CALLBACK"]
    assert [c["status"] for c in callbacks] == ["WAITING_FOR_DEPOSIT", "DONE"]
    assert {c["secret"] for c in callbacks} == {issued["secret"]} and "eventType" not in callbacks[0]
    assert set(callbacks[1]) == {"createdAt", "secret", "status", "transactionKey", "orderId"}
    changed = [r.body["data"]["status"] for r in got if r.event_type == "PAYMENT_STATUS_CHANGED"]
    assert changed == ["WAITING_FOR_DEPOSIT", "DONE"]
    with pytest.raises(SandboxError, match="409"):
        sandbox.deposit(params["orderId"])


def test_virtual_account_cancelled_before_deposit(sandbox, toss, receiver):
    params = authorise(sandbox, card="virtual_account")
    toss.confirm(params)
    cancelled = toss.cancel(params["paymentKey"]).json()
    assert (cancelled["status"], cancelled["balanceAmount"]) == ("CANCELED", 0)
    got = receiver.wait_for(params["orderId"], 4)
    assert [r.body["status"] for r in got if r.event_type == "DEPOSIT_CALLBACK"] == ["WAITING_FOR_DEPOSIT", "CANCELED"]


ACCOUNT = {"bank": "88", "accountNumber": "110123456789", "holderName": "김토스"}


def deposited_account(sandbox, toss, amount: int = 20000) -> dict[str, str]:
    params = authorise(sandbox, card="virtual_account", amount=amount)
    toss.confirm(params)
    sandbox.deposit(params["orderId"])
    return params


def test_a_deposited_virtual_account_is_refunded_to_the_account_named(sandbox, toss):
    params = deposited_account(sandbox, toss)
    partial = toss.cancel(params["paymentKey"], cancelAmount=5000, refundReceiveAccount=ACCOUNT, key="rf-1")
    assert partial.status_code == 200, partial.text
    body = partial.json()
    assert (body["status"], body["balanceAmount"]) == ("PARTIAL_CANCELED", 15000)
    assert body["virtualAccount"]["refundReceiveAccount"] == ACCOUNT
    assert body["virtualAccount"]["refundStatus"] == "COMPLETED"
    rest = toss.cancel(params["paymentKey"], refundReceiveAccount=ACCOUNT, key="rf-2").json()
    assert (rest["status"], rest["balanceAmount"], len(rest["cancels"])) == ("CANCELED", 0, 2)


@pytest.mark.parametrize(
    ("account", "status", "code"),
    [
        (None, 400, "INVALID_REQUEST"),
        ("88-110123456789", 400, "INVALID_REQUEST"),
        ({**ACCOUNT, "bank": "99"}, 400, "INVALID_BANK"),
        ({**ACCOUNT, "bank": "신한"}, 400, "INVALID_BANK"),
        ({**ACCOUNT, "accountNumber": "110-123-456789"}, 400, "INVALID_REFUND_ACCOUNT_NUMBER"),
        ({**ACCOUNT, "accountNumber": "1" * 21}, 400, "INVALID_REFUND_ACCOUNT_NUMBER"),
        ({**ACCOUNT, "accountNumber": 110123456789}, 400, "INVALID_REFUND_ACCOUNT_NUMBER"),
        ({**ACCOUNT, "holderName": ""}, 400, "INVALID_REQUEST"),
        ({**ACCOUNT, "holderName": "김" * 61}, 400, "INVALID_REQUEST"),
        ({**ACCOUNT, "accountNumber": "999123456789"}, 400, "INVALID_REFUND_ACCOUNT_INFO"),
    ],
)
def test_a_deposited_virtual_account_refund_checks_the_account(sandbox, toss, account, status, code):
    params = deposited_account(sandbox, toss)
    body = {} if account is None else {"refundReceiveAccount": account}
    response = toss.cancel(params["paymentKey"], **body)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert toss.get(f"/v1/payments/{params['paymentKey']}").json()["status"] == "DONE"  # nothing refunded


def test_only_a_deposited_virtual_account_needs_an_account(sandbox, toss):
    card = authorise(sandbox)
    toss.confirm(card)
    assert toss.cancel(card["paymentKey"], cancelAmount=1000).json()["status"] == "PARTIAL_CANCELED"
    waiting = authorise(sandbox, card="virtual_account")
    toss.confirm(waiting)
    assert toss.cancel(waiting["paymentKey"]).json()["status"] == "CANCELED"  # nothing was deposited


def test_an_expired_session_cannot_be_confirmed(sandbox, toss, receiver):
    params = authorise(sandbox)
    expired = sandbox.expire(params["orderId"])
    assert expired["status"] == "EXPIRED" and expired["failure"]["code"] == "EXPIRED_PAYMENT"
    response = toss.confirm(params)
    assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND_PAYMENT_SESSION")
    assert receiver.wait_for(params["orderId"], 1)[0].body["data"]["status"] == "EXPIRED"
    with pytest.raises(SandboxError, match="409"):
        sandbox.expire(params["orderId"])


def test_the_confirm_window_expires_on_its_own(tmp_path, receiver):
    env = {"SANDBOX_TOSS_CONFIRM_WINDOW_SECONDS": "0.3", "SANDBOX_TOSS_WEBHOOK_URL": receiver.url}
    with SandboxProcess(tmp_path / "sandbox.log", env) as short:
        params = authorise(short)
        got = receiver.wait_for(params["orderId"], 1, timeout=TIMEOUT)  # the sweeper, without any call
        assert got[0].body["data"]["status"] == "EXPIRED"
        response = Toss(short).confirm(params)
        assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND_PAYMENT_SESSION")


def test_reset_forgets_everything(sandbox, toss):
    params = authorise(sandbox)
    toss.confirm(params, key="before-reset")
    sandbox.fault(mode="error500")
    sandbox.webhooks(paused=True)
    sandbox.reset()
    assert sandbox.requests_log() == [] and sandbox.webhook_log() == []
    assert sandbox.control("GET", "/faults") == {"faults": [], "latencyMs": {}}
    assert sandbox.control("GET", "/webhooks")["toss"]["paused"] is False
    assert toss.get(f"/v1/payments/{params['paymentKey']}").status_code == 404
