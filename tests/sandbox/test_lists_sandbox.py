"""The sandbox's lists for the drift report: Toss transactions, Stripe intents and refunds, and the
control actions that plant differences (a payment lost by the gateway, a payment of yesterday)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
import stripe

from tests.sandbox.test_toss_sandbox import Toss, authorise
from tests.support.sandbox import SandboxError, SandboxProcess

KST = timezone(timedelta(hours=9))
DAY = 86400


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    env = {"SANDBOX_TOSS_WEBHOOK_URL": "http://127.0.0.1:9/none", "SANDBOX_STRIPE_WEBHOOK_URL": "http://127.0.0.1:9/x"}
    process = SandboxProcess(tmp_path_factory.mktemp("sandbox") / "sandbox.log", env).start()
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def fresh(sandbox):
    sandbox.reset()
    sandbox.webhooks(gateway="toss", paused=True)
    sandbox.webhooks(gateway="stripe", paused=True)


@pytest.fixture
def toss(sandbox):
    return Toss(sandbox)


@pytest.fixture
def client(sandbox) -> stripe.StripeClient:
    return stripe.StripeClient(sandbox.stripe_secret_key, base_addresses={"api": sandbox.stripe_api_base})


def local(at: datetime) -> str:
    return at.astimezone(KST).replace(tzinfo=None, microsecond=0).isoformat()


def transactions(toss: Toss, start: str, end: str, **params: str) -> requests.Response:
    query = {"startDate": start, "endDate": end, **params}
    return requests.get(f"{toss.base}/v1/transactions", params=query, headers=toss.headers, timeout=5)


def today(toss: Toss, **params: str) -> list[dict]:
    now = datetime.now(KST)
    response = transactions(toss, local(now - timedelta(hours=1)), local(now + timedelta(minutes=1)), **params)
    assert response.status_code == 200, response.text
    return response.json()


def paid(sandbox: SandboxProcess, toss: Toss, amount: int = 13000) -> dict:
    params = authorise(sandbox, amount=amount)
    assert toss.confirm(params).status_code == 200
    return params


def test_each_approval_and_cancel_is_its_own_row(sandbox, toss):
    params = paid(sandbox, toss)
    assert toss.cancel(params["paymentKey"], cancelAmount=3000).status_code == 200
    assert toss.cancel(params["paymentKey"]).status_code == 200
    rows = today(toss)
    assert [(r["status"], r["amount"]) for r in rows] == [
        ("DONE", 13000),
        ("PARTIAL_CANCELED", 3000),
        ("CANCELED", 10000),
    ]
    assert {r["paymentKey"] for r in rows} == {params["paymentKey"]} and {r["orderId"] for r in rows} == {
        params["orderId"]
    }
    assert len({r["transactionKey"] for r in rows}) == 3
    assert rows[0]["method"] == "카드" and rows[0]["currency"] == "KRW" and rows[0]["transactionAt"].endswith("+09:00")
    payment = toss.get(f"/v1/payments/{params['paymentKey']}").json()
    assert [c["transactionKey"] for c in payment["cancels"]] == [r["transactionKey"] for r in rows[1:]]


def test_virtual_account_issue_is_a_zero_row_and_its_deposit_an_approval(sandbox, toss):
    params = authorise(sandbox, card="virtual_account")
    assert toss.confirm(params).status_code == 200
    assert [(r["status"], r["amount"]) for r in today(toss)] == [("WAITING_FOR_DEPOSIT", 0)]
    sandbox.deposit(params["orderId"])
    assert [(r["status"], r["amount"]) for r in today(toss)] == [("WAITING_FOR_DEPOSIT", 0), ("DONE", 13000)]


def test_pages_follow_starting_after_until_a_short_page(sandbox, toss):
    keys = [paid(sandbox, toss, 1000 + i)["paymentKey"] for i in range(5)]
    first = today(toss, limit="2")
    second = today(toss, limit="2", startingAfter=first[-1]["transactionKey"])
    third = today(toss, limit="2", startingAfter=second[-1]["transactionKey"])
    assert [r["paymentKey"] for r in first + second + third] == keys and len(third) == 1


def test_the_window_is_in_korean_time_and_its_end_second_is_included(sandbox, toss):
    params = paid(sandbox, toss)
    [row] = today(toss)
    at = datetime.fromisoformat(row["transactionAt"])
    assert transactions(toss, local(at), local(at)).json() == [row]
    assert transactions(toss, local(at + timedelta(seconds=1)), local(at + timedelta(hours=1))).json() == []
    assert transactions(toss, at.astimezone(KST).date().isoformat(), local(at)).json() == [row]
    sandbox.control("POST", "/toss/backdate", {"orderId": params["orderId"], "seconds": DAY})
    assert today(toss) == []
    yesterday = transactions(toss, local(at - timedelta(days=1, hours=1)), local(at - timedelta(hours=23))).json()
    assert [r["transactionKey"] for r in yesterday] == [row["transactionKey"]]
    payment = toss.get(f"/v1/payments/{params['paymentKey']}").json()
    assert datetime.fromisoformat(payment["approvedAt"]) == at - timedelta(days=1)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"startDate": "yesterday", "endDate": "2026-12-01"}, "INVALID_DATE"),
        ({"startDate": "2026-12-02", "endDate": "2026-12-01"}, "INVALID_DATE"),
        ({"endDate": "2026-12-01"}, "INVALID_DATE"),
        ({"startDate": "2026-12-01", "endDate": "2026-12-02", "limit": "5001"}, "EXCEED_MAX_QUERY_LIMIT"),
        ({"startDate": "2026-12-01", "endDate": "2026-12-02", "limit": "0"}, "INVALID_REQUEST"),
        ({"startDate": "2026-12-01", "endDate": "2026-12-02", "startingAfter": "nope"}, "INVALID_TRANSACTION_KEY"),
    ],
)
def test_bad_dates_limits_and_keys_are_refused_as_toss_does(toss, params, code):
    response = requests.get(f"{toss.base}/v1/transactions", params=params, headers=toss.headers, timeout=5)
    assert response.status_code == 400 and response.json()["code"] == code


def test_transactions_need_the_secret_key(sandbox):
    response = transactions(Toss(sandbox, secret="test_sk_wrong"), "2026-12-01", "2026-12-02")
    assert response.status_code == 401 and response.json()["code"] == "UNAUTHORIZED_KEY"


def test_a_forgotten_toss_payment_is_gone_with_its_rows(sandbox, toss):
    params = paid(sandbox, toss)
    kept = paid(sandbox, toss)
    sandbox.control("POST", "/toss/forget", {"orderId": params["orderId"]})
    assert [r["paymentKey"] for r in today(toss)] == [kept["paymentKey"]]
    assert toss.get(f"/v1/payments/orders/{params['orderId']}").json()["code"] == "NOT_FOUND_PAYMENT"
    with pytest.raises(SandboxError):
        sandbox.control("POST", "/toss/forget", {"orderId": params["orderId"]})
    with pytest.raises(SandboxError):
        sandbox.control("POST", "/toss/backdate", {"orderId": kept["orderId"], "seconds": -5})


def intent(client: stripe.StripeClient, order_id: str, amount: int = 1000) -> str:
    params = {"amount": amount, "currency": "usd", "metadata": {"order_id": order_id}}
    return client.v1.payment_intents.create(params=params).id  # type: ignore[arg-type]


def test_stripe_lists_intents_by_created_newest_first_with_cursor_paging(sandbox, client):
    ids = [intent(client, f"order-{i}") for i in range(5)]
    sandbox.stripe_succeed(ids[1])
    now = int(time.time())
    window = {"gte": now - 60, "lt": now + 60}
    first = client.v1.payment_intents.list(params={"created": window, "limit": 2, "expand": ["data.latest_charge"]})
    assert [i.id for i in first.data] == ids[::-1][:2] and first.has_more
    seen = [i.id for i in first.auto_paging_iter()]
    assert seen == ids[::-1]
    paid_one = next(i for i in client.v1.payment_intents.list(params={"limit": 100}).data if i.id == ids[1])
    assert paid_one.status == "succeeded"
    assert client.v1.payment_intents.list(params={"created": {"lt": now - 60}}).data == []


def test_stripe_lists_refunds_by_created_and_backdates_and_forgets(sandbox, client):
    kept, lost = intent(client, "order-kept"), intent(client, "order-lost")
    for intent_id in (kept, lost):
        sandbox.stripe_succeed(intent_id)
        client.v1.refunds.create(params={"payment_intent": intent_id, "amount": 100})
    now = int(time.time())
    sandbox.control("POST", "/stripe/backdate", {"payment_intent": kept, "seconds": DAY})
    recent = client.v1.refunds.list(params={"created": {"gte": now - 60}})
    assert [r.payment_intent for r in recent.data] == [lost]
    earlier = client.v1.refunds.list(params={"created": {"gte": now - DAY - 60, "lt": now - DAY + 60}})
    assert [r.payment_intent for r in earlier.data] == [kept]
    assert [i.id for i in client.v1.payment_intents.list(params={"created": {"gte": now - 60}}).data] == [lost]
    sandbox.control("POST", "/stripe/forget", {"payment_intent": lost})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.retrieve(lost)
    assert [r.payment_intent for r in client.v1.refunds.list().data] == [kept]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.list(params={"starting_after": lost})
