"""The Stripe half of the gateway sandbox, over real HTTP, mostly through the official SDK.

The SDK (stripe-python 16.1.0) talks to the sandbox unchanged, so these tests also prove
that the sandbox answers what the SDK expects: shapes, error classes, headers, signatures.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import stripe

from tests.sandbox.receiver import Received, WebhookReceiver, wait_until
from tests.support.sandbox import SandboxError, SandboxProcess

RETRY_BASE = 0.01  # the schedule's steps: 0.01, 0.04, 0.16 s (a 4th would be 0.64 s)
TIMEOUT = 5
DECLINED = "4000000000000002"
NO_FUNDS = "4000000000009995"


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver("/payment/stripe/webhook").start()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, receiver) -> Iterator[SandboxProcess]:
    env = {
        "SANDBOX_STRIPE_WEBHOOK_URL": receiver.url,
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


def make_client(sandbox: SandboxProcess, key: str | None = None, timeout: float = TIMEOUT) -> stripe.StripeClient:
    return stripe.StripeClient(
        sandbox.stripe_secret_key if key is None else key,
        base_addresses={"api": sandbox.stripe_api_base},
        http_client=stripe.RequestsClient(timeout=timeout),
        max_network_retries=0,
    )


@pytest.fixture(scope="module")
def client(sandbox) -> stripe.StripeClient:
    return make_client(sandbox)


def new_order_id() -> str:
    return "ord_" + secrets.token_urlsafe(9)


def create(
    client: stripe.StripeClient,
    amount: int = 1000,
    currency: str = "usd",
    key: str | None = None,
    order_id: str | None = None,
    **params: Any,
) -> stripe.PaymentIntent:
    body = {
        "amount": amount,
        "currency": currency,
        "automatic_payment_methods": {"enabled": True},
        "metadata": {"order_id": order_id or new_order_id()},
        **params,
    }
    return client.v1.payment_intents.create(params=body, options={"idempotency_key": key} if key else {})


def paid(sandbox: SandboxProcess, client: stripe.StripeClient, amount: int = 1000, currency: str = "usd"):
    intent = create(client, amount, currency)
    assert sandbox.stripe_pay(intent.client_secret)["url"] == "succeeded"
    return intent


def raw(sandbox: SandboxProcess, method: str, path: str, key: str | None = None, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {key or sandbox.stripe_secret_key}", **kwargs.pop("headers", {})}
    return requests.request(method, sandbox.stripe_api_base + path, headers=headers, timeout=TIMEOUT, **kwargs)


def outcomes(sandbox: SandboxProcess, operation: str) -> list[str]:
    return [e["outcome"] for e in sandbox.requests_log(gateway="stripe") if e["operation"] == operation]


def events_of(receiver: WebhookReceiver, count: int) -> list[Received]:
    """The first `count` deliveries of this test (refund and dispute objects carry no order id)."""
    return wait_until(receiver.received, lambda got: len(got) >= count, timeout=TIMEOUT)[:count]


def verified(sandbox: SandboxProcess, received: Received) -> stripe.Event:
    return stripe.Webhook.construct_event(
        received.raw, received.headers["stripe-signature"], sandbox.stripe_webhook_secret, tolerance=300
    )


# PaymentIntents: create, retrieve


def test_create_answers_a_payment_intent_as_the_sdk_reads_it(sandbox, client):
    order_id = new_order_id()
    intent = create(client, 1999, order_id=order_id, description="Premium reading", receipt_email="a@example.com")
    assert isinstance(intent, stripe.PaymentIntent)
    assert re.fullmatch(r"pi_[A-Za-z0-9]{24}", intent.id) and intent.object == "payment_intent"
    assert (intent.amount, intent.currency, intent.status) == (1999, "usd", "requires_payment_method")
    assert intent.client_secret.startswith(f"{intent.id}_secret_")
    assert intent.metadata.to_dict() == {"order_id": order_id}
    assert (intent.description, intent.receipt_email) == ("Premium reading", "a@example.com")
    assert intent.latest_charge is None and intent.last_payment_error is None and intent.amount_received == 0
    assert intent.automatic_payment_methods.to_dict() == {"enabled": True, "allow_redirects": "always"}
    assert intent.payment_method_types == ["card"] and intent.livemode is False
    assert (intent.capture_method, intent.confirmation_method) == ("automatic", "automatic")
    assert intent.canceled_at is None and intent.cancellation_reason is None
    assert abs(intent.created - time.time()) < 60
    response = intent.last_response
    assert response.request_id.startswith("req_") and response.idempotency_key  # the SDK's own key, echoed
    again = client.v1.payment_intents.retrieve(intent.id)
    assert again.to_dict() == intent.to_dict()
    assert outcomes(sandbox, "create_intent") == ["executed"] and outcomes(sandbox, "retrieve") == ["executed"]


def test_zero_decimal_currencies_and_minimum_amounts(sandbox, client):
    assert create(client, 500, "jpy").amount == 500
    assert create(client, 100, "krw").amount == 100
    assert create(client, 30, "gbp").currency == "gbp"
    assert create(client, 50, "USD").currency == "usd"
    for amount, currency, words in ((49, "jpy", "¥50 jpy"), (99, "krw", "₩100 krw"), (49, "usd", "$0.50 usd")):
        with pytest.raises(stripe.InvalidRequestError) as refused:
            create(client, amount, currency)
        assert (refused.value.code, refused.value.param, refused.value.http_status) == (
            "amount_too_small",
            "amount",
            400,
        )
        assert words in refused.value.user_message
    with pytest.raises(stripe.InvalidRequestError) as too_large:
        create(client, 100_000_000, "krw")
    assert too_large.value.code == "amount_too_large"
    with pytest.raises(stripe.InvalidRequestError) as currency:
        create(client, 1000, "xyz")
    assert currency.value.param == "currency" and currency.value.error.type == "invalid_request_error"
    intent = create(client, 13000, "krw")
    query = {
        "client_secret": intent.client_secret,
        "return_url": "http://127.0.0.1/r",
        "key": sandbox.stripe_publishable_key,
    }
    page = requests.get(f"{sandbox.stripe_api_base}/pay", params=query, timeout=TIMEOUT)
    assert page.status_code == 200 and "₩13,000" in page.text and "KRW" in page.text


def test_parameter_errors_use_stripe_codes_and_are_not_saved(sandbox, client):
    usd = {"amount": 1000, "currency": "usd"}
    cases = (
        ({**usd, "colour": "red"}, "parameter_unknown", "colour"),
        ({"currency": "usd"}, "parameter_missing", "amount"),
        ({"amount": "ten", "currency": "usd"}, "parameter_invalid_integer", "amount"),
        ({"amount": 0, "currency": "usd"}, "parameter_invalid_integer", "amount"),
        ({**usd, "automatic_payment_methods": {"x": "1"}}, "parameter_unknown", "automatic_payment_methods[x]"),
        ({**usd, "automatic_payment_methods": {"allow_redirects": "never"}}, "parameter_missing", "apm[enabled]"),
        ({**usd, "automatic_payment_methods": {"enabled": "maybe"}}, None, "apm[enabled]"),
        ({**usd, "receipt_email": "not-an-email"}, "email_invalid", "receipt_email"),
    )
    for params, code, param in cases:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            client.v1.payment_intents.create(params=params)
        expected = param.replace("apm[", "automatic_payment_methods[")
        assert (refused.value.code, refused.value.param, refused.value.http_status) == (code, expected, 400), params
    unknown = raw(sandbox, "POST", "/v1/payment_intents", data={"amount": "1000", "currency": "usd", "colour": "red"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["message"] == "Received unknown parameter: colour"
    with pytest.raises(stripe.InvalidRequestError):
        create(client, 10, key="k-validation")
    assert create(client, 1000, key="k-validation").amount == 1000  # the 400 was not kept under the key
    assert outcomes(sandbox, "create_intent")[-2:] == ["rejected", "executed"]


def test_authentication_wants_the_secret_key(sandbox):
    with pytest.raises(stripe.AuthenticationError) as wrong:
        create(make_client(sandbox, key="sk_test_somebodyElsesKey1234"))
    assert wrong.value.http_status == 401
    assert wrong.value.user_message == "Invalid API Key provided: sk_test_****************1234"
    assert wrong.value.error.type == "invalid_request_error"
    with pytest.raises(stripe.AuthenticationError):
        create(make_client(sandbox, key=sandbox.stripe_publishable_key))
    missing = requests.get(f"{sandbox.stripe_api_base}/v1/payment_intents/pi_x", timeout=TIMEOUT)
    assert missing.status_code == 401 and "You did not provide an API key" in missing.json()["error"]["message"]
    basic = requests.get(
        f"{sandbox.stripe_api_base}/v1/payment_intents/pi_x", auth=(sandbox.stripe_secret_key, ""), timeout=TIMEOUT
    )
    assert basic.status_code == 404 and basic.json()["error"]["code"] == "resource_missing"
    assert basic.headers["Request-Id"].startswith("req_")
    assert set(outcomes(sandbox, "create_intent")) == {"rejected"}


def test_unknown_routes_and_objects_answer_stripe_404(sandbox, client):
    for response in (raw(sandbox, "GET", "/v1/nothing"), raw(sandbox, "POST", "/v2/payment_intents")):
        assert response.status_code == 404 and response.json()["error"]["type"] == "invalid_request_error"
        assert response.json()["error"]["message"].startswith("Unrecognized request URL")
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.payment_intents.retrieve("pi_" + "x" * 24)
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
    assert missing.value.user_message == f"No such payment_intent: '{'pi_' + 'x' * 24}'"


# Search and cancel


def test_search_by_metadata_and_status(sandbox, client):
    first, second = new_order_id(), new_order_id()
    one = create(client, order_id=first)
    two = create(client, order_id=second)
    found = client.v1.payment_intents.search(params={"query": f"metadata['order_id']:'{first}'"})
    assert [i.id for i in found.data] == [one.id] and found.has_more is False
    sandbox.stripe_pay(two.client_secret)
    succeeded = client.v1.payment_intents.search(params={"query": "status:'succeeded'"})
    assert [i.id for i in succeeded.data] == [two.id]
    both = client.v1.payment_intents.search(
        params={"query": f"metadata['order_id']:'{first}' OR metadata[\"order_id\"]:\"{second}\"", "limit": 1}
    )
    assert [i.id for i in both.data] == [two.id] and both.has_more and both.next_page  # newest first
    expanded = client.v1.payment_intents.search(
        params={"query": "status:'succeeded' AND amount>=1000 AND currency:'usd'", "expand": ["data.latest_charge"]}
    )
    assert expanded.data[0].latest_charge.object == "charge"
    answer = raw(sandbox, "GET", "/v1/payment_intents/search", params={"query": "metadata['order_id']:'none'"}).json()
    assert answer == {
        "object": "search_result",
        "data": [],
        "has_more": False,
        "next_page": None,
        "url": "/v1/payment_intents/search",
    }
    with pytest.raises(stripe.InvalidRequestError) as bad:
        client.v1.payment_intents.search(params={"query": "status:'a' AND amount>1 OR currency:'usd'"})
    assert bad.value.param == "query"
    assert outcomes(sandbox, "search")[-1] == "rejected"


def test_cancel_and_its_event(sandbox, client, receiver):
    intent = create(client)
    canceled = client.v1.payment_intents.cancel(
        intent.id, params={"cancellation_reason": "abandoned"}, options={"idempotency_key": "cancel-1"}
    )
    assert (canceled.status, canceled.cancellation_reason) == ("canceled", "abandoned")
    assert abs(canceled.canceled_at - time.time()) < 60
    [got] = events_of(receiver, 1)
    event = verified(sandbox, got)
    assert event.type == "payment_intent.canceled" and event.data.object.status == "canceled"
    assert event.request.idempotency_key == "cancel-1" and event.request.id == canceled.last_response.request_id
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.payment_intents.cancel(intent.id)
    assert again.value.code == "payment_intent_unexpected_state"
    assert again.value.json_body["error"]["payment_intent"]["status"] == "canceled"
    done = paid(sandbox, client)
    with pytest.raises(stripe.InvalidRequestError) as succeeded:
        client.v1.payment_intents.cancel(done.id)
    assert "status of succeeded" in succeeded.value.user_message
    with pytest.raises(stripe.InvalidRequestError) as reason:
        client.v1.payment_intents.cancel(create(client).id, params={"cancellation_reason": "bored"})
    assert reason.value.param == "cancellation_reason"
    assert outcomes(sandbox, "cancel") == ["executed", "rejected", "rejected", "rejected"]


# The hosted page


def test_pay_page_shows_the_intent_and_the_test_cards(sandbox, client):
    intent = create(client, 1999, description="Premium reading")
    query = {
        "client_secret": intent.client_secret,
        "return_url": "http://127.0.0.1/r",
        "key": sandbox.stripe_publishable_key,
    }
    page = requests.get(f"{sandbox.stripe_api_base}/pay", params=query, timeout=TIMEOUT)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    shown = ("$19.99", "USD", "Premium reading", "4242 4242 4242 4242", "4000 0000 0000 0002", 'name="card_number"')
    for text in shown:
        assert text in page.text
    for bad in ({"key": "pk_test_other"}, {"client_secret": intent.id + "_secret_wrong"}, {"return_url": "ftp://x"}):
        refused = requests.get(f"{sandbox.stripe_api_base}/pay", params={**query, **bad}, timeout=TIMEOUT)
        assert refused.status_code == 400, bad
    with pytest.raises(SandboxError, match="400"):
        sandbox.stripe_pay(intent.client_secret, key="pk_test_other")


def test_4242_succeeds_with_a_charge_and_events(sandbox, client, receiver):
    intent = create(client, 2500, description="Premium reading")
    went = sandbox.stripe_pay(intent.client_secret, card="4242 4242 4242 4242", return_url="http://127.0.0.1/r?x=1")
    assert went["url"] == "succeeded"
    assert went["location"].startswith("http://127.0.0.1/r?x=1&payment_intent=")
    assert went["params"] == {
        "x": "1",
        "payment_intent": intent.id,
        "payment_intent_client_secret": intent.client_secret,
        "redirect_status": "succeeded",
    }
    done = client.v1.payment_intents.retrieve(intent.id, params={"expand": ["latest_charge"]})
    assert (done.status, done.amount_received, done.last_payment_error) == ("succeeded", 2500, None)
    charge = done.latest_charge
    assert isinstance(charge, stripe.Charge) and re.fullmatch(r"ch_[A-Za-z0-9]{24}", charge.id)
    assert (charge.amount, charge.amount_captured, charge.amount_refunded) == (2500, 2500, 0)
    assert (charge.paid, charge.status, charge.payment_intent, charge.refunded) == (True, "succeeded", intent.id, False)
    card = charge.payment_method_details.card
    assert (card.brand, card.last4, card.funding, card.country) == ("visa", "4242", "credit", "US")
    assert card.exp_month == 12 and card.exp_year > time.gmtime().tm_year
    assert charge.refunds.data == [] and done.payment_method == charge.payment_method
    assert client.v1.payment_intents.retrieve(intent.id).latest_charge == charge.id
    receipt = requests.get(charge.receipt_url, timeout=TIMEOUT)
    assert receipt.status_code == 200 and "$25.00" in receipt.text
    got = events_of(receiver, 2)
    assert [r.event_type for r in got] == ["payment_intent.succeeded", "charge.succeeded"]
    assert got[0].body["data"]["object"]["latest_charge"] == charge.id and got[1].body["data"]["object"]["paid"]
    assert got[0].body["request"]["id"].startswith("req_") and got[0].body["request"]["idempotency_key"] is None
    with pytest.raises(SandboxError, match="409"):
        sandbox.stripe_pay(intent.client_secret)


def test_declined_cards_then_another_card(sandbox, client, receiver):
    intent = create(client, 5000)
    assert sandbox.stripe_pay(intent.client_secret, card=DECLINED)["url"] == "failed"
    failed = client.v1.payment_intents.retrieve(intent.id, params={"expand": ["latest_charge"]})
    assert failed.status == "requires_payment_method" and failed.payment_method is None
    error = failed.last_payment_error
    assert (error.type, error.code, error.decline_code) == ("card_error", "card_declined", "generic_decline")
    assert error.message == "Your card was declined." and error.payment_method.card.last4 == "0002"
    charge = failed.latest_charge
    assert (charge.status, charge.paid, charge.amount_captured) == ("failed", False, 0)
    assert charge.failure_code == "card_declined" and charge.failure_message == "Your card was declined."
    assert charge.outcome.reason == "generic_decline" and error.charge == charge.id
    sandbox.stripe_pay(intent.client_secret, card=NO_FUNDS)
    poor = client.v1.payment_intents.retrieve(intent.id).last_payment_error
    assert (poor.decline_code, poor.message) == ("insufficient_funds", "Your card has insufficient funds.")
    with pytest.raises(SandboxError, match="400"):  # fails the Luhn check: refused on the page, no attempt
        sandbox.stripe_pay(intent.client_secret, card="4242 4242 4242 4241")
    assert sandbox.stripe_pay(intent.client_secret)["url"] == "succeeded"
    done = client.v1.payment_intents.retrieve(intent.id)
    assert (done.status, done.last_payment_error) == ("succeeded", None) and done.latest_charge != charge.id
    got = events_of(receiver, 6)
    failures = ["payment_intent.payment_failed", "charge.failed"] * 2
    assert [r.event_type for r in got] == [*failures, "payment_intent.succeeded", "charge.succeeded"]
    assert got[0].body["data"]["object"]["last_payment_error"]["decline_code"] == "generic_decline"
    assert got[1].body["data"]["object"]["status"] == "failed"


# Idempotency


def test_a_repeated_key_replays_the_saved_answer(sandbox, client):
    order_id = new_order_id()
    first = create(client, key="create-1", order_id=order_id)
    second = create(client, key="create-1", order_id=order_id)
    assert second.id == first.id
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert outcomes(sandbox, "create_intent") == ["executed", "replayed"]
    with pytest.raises(stripe.IdempotencyError) as reused:
        create(client, 2000, key="create-1", order_id=order_id)
    assert reused.value.http_status == 400 and reused.value.error.type == "idempotency_error"
    assert reused.value.user_message.startswith("Keys for idempotent requests can only be used with the same")
    with pytest.raises(stripe.InvalidRequestError) as too_long:
        create(client, key="k" * 256)
    assert too_long.value.user_message == "Idempotency-Key must be at most 255 characters long."
    with pytest.raises(stripe.IdempotencyError):  # the key belongs to the account, not to one endpoint
        client.v1.refunds.create(params={"payment_intent": first.id}, options={"idempotency_key": "create-1"})
    log = [e for e in sandbox.requests_log(gateway="stripe") if e["idempotencyKey"] == "create-1"]
    assert [(e["outcome"], e["executed"]) for e in log][-2:] == [("rejected", False), ("rejected", False)]


def test_a_repeat_while_the_first_runs_gets_409(sandbox, client):
    sandbox.fault(gateway="stripe", mode="timeout", seconds=1.0, operation="create_intent")
    order_id = new_order_id()
    results: dict[str, Any] = {}
    first = threading.Thread(target=lambda: results.setdefault("first", create(client, key="slow", order_id=order_id)))
    first.start()
    time.sleep(0.4)  # the first request holds the key
    with pytest.raises(stripe.APIError) as busy:
        create(client, key="slow", order_id=order_id)
    first.join(timeout=TIMEOUT)
    assert (busy.value.http_status, busy.value.error.code) == (409, "idempotency_key_in_use")
    assert busy.value.error.type == "invalid_request_error"
    assert create(client, key="slow", order_id=order_id).id == results["first"].id
    assert sorted(outcomes(sandbox, "create_intent")) == ["in_flight", "injected_timeout", "replayed"]


def test_a_saved_500_is_replayed_while_nothing_was_created(sandbox, client):
    sandbox.fault(gateway="stripe", mode="error500_saved", operation="create_intent")
    order_id = new_order_id()
    for _ in range(2):
        with pytest.raises(stripe.APIError) as failed:
            create(client, key="k-saved", order_id=order_id)
        assert failed.value.http_status == 500 and failed.value.error.type == "api_error"
    assert failed.value.headers["Idempotent-Replayed"] == "true"
    assert client.v1.payment_intents.search(params={"query": f"metadata['order_id']:'{order_id}'"}).data == []
    assert sandbox.stripe_intents() == []
    assert create(client, key="k-fresh", order_id=order_id).metadata["order_id"] == order_id
    log = [e for e in sandbox.requests_log(gateway="stripe") if e["operation"] == "create_intent"]
    assert [(e["outcome"], e["status"], e["executed"]) for e in log] == [
        ("injected_error500", 500, False),
        ("replayed", 500, False),
        ("executed", 200, True),
    ]
    with pytest.raises(SandboxError):
        sandbox.fault(gateway="toss", mode="error500_saved")  # Toss documents no saved 500s


# Faults in front of the idempotency layer


def test_error500_and_drop_fail_in_front_without_saving(sandbox, client):
    order_id = new_order_id()
    sandbox.fault(gateway="stripe", mode="error500", operation="create_intent")
    with pytest.raises(stripe.APIError) as failed:
        create(client, key="k-500", order_id=order_id)
    assert failed.value.http_status == 500 and failed.value.headers.get("Idempotent-Replayed") is None
    assert create(client, key="k-500", order_id=order_id).status == "requires_payment_method"
    sandbox.fault(gateway="stripe", mode="drop", operation="retrieve")
    assert client.v1.payment_intents.search(params={"query": "status:'canceled'"}).data == []  # not a retrieve
    with pytest.raises(stripe.APIConnectionError):
        client.v1.payment_intents.retrieve("pi_" + "y" * 24)
    assert outcomes(sandbox, "create_intent") == ["injected_error500", "executed"]
    assert outcomes(sandbox, "retrieve") == ["dropped"]


def test_malformed_answers_unreadably_after_creating(sandbox, client):
    order_id = new_order_id()
    sandbox.fault(gateway="stripe", mode="malformed", operation="create_intent")
    with pytest.raises(stripe.APIError) as unreadable:
        create(client, key="k-malformed", order_id=order_id)
    assert unreadable.value.http_status == 200 and "Invalid response body" in str(unreadable.value)
    [intent] = sandbox.stripe_intents()
    assert create(client, key="k-malformed", order_id=order_id).id == intent["id"]  # replayed whole
    log = [e for e in sandbox.requests_log(gateway="stripe") if e["operation"] == "create_intent"]
    assert [(e["outcome"], e["executed"]) for e in log] == [("malformed", True), ("replayed", False)]


def test_timeout_loses_the_answer_but_not_the_effect(sandbox, client):
    order_id = new_order_id()
    sandbox.fault(gateway="stripe", mode="timeout", seconds=0.6, operation="create_intent")
    with pytest.raises(stripe.APIConnectionError):
        create(make_client(sandbox, timeout=0.2), key="k-timeout", order_id=order_id)
    found = wait_until(
        lambda: client.v1.payment_intents.search(params={"query": f"metadata['order_id']:'{order_id}'"}).data,
        lambda data: len(data) == 1,
    )
    assert create(client, key="k-timeout", order_id=order_id).id == found[0].id
    assert outcomes(sandbox, "create_intent") == ["injected_timeout", "replayed"]


def test_latency_and_operation_matching(sandbox, client):
    sandbox.fault(gateway="stripe", mode="error500", operation="refund")
    intent = create(client)  # not a refund: unaffected
    assert sandbox.control("GET", "/faults")["faults"][0]["operation"] == "refund"
    sandbox.clear_faults()
    sandbox.fault(gateway="stripe", latency_ms=300)
    started = time.monotonic()
    client.v1.payment_intents.retrieve(intent.id)
    assert time.monotonic() - started >= 0.3
    with pytest.raises(SandboxError):
        sandbox.fault(gateway="stripe", mode="error500", operation="confirm")  # a Toss operation


# Refunds


def test_partial_refunds_accumulate_on_the_charge(sandbox, client, receiver):
    intent = paid(sandbox, client, 1000)
    first = client.v1.refunds.create(
        params={"payment_intent": intent.id, "amount": 300, "reason": "requested_by_customer", "metadata": {"n": "1"}}
    )
    assert re.fullmatch(r"re_[A-Za-z0-9]{24}", first.id) and first.object == "refund"
    assert (first.amount, first.currency, first.status, first.payment_intent) == (300, "usd", "succeeded", intent.id)
    assert first.reason == "requested_by_customer" and first.metadata.to_dict() == {"n": "1"}
    charge_id = client.v1.payment_intents.retrieve(intent.id).latest_charge
    assert first.charge == charge_id
    second = client.v1.refunds.create(params={"charge": charge_id, "amount": 200})
    with pytest.raises(stripe.InvalidRequestError) as over:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 501})
    assert (over.value.code, over.value.param) == ("amount_too_large", "amount")
    rest = client.v1.refunds.create(params={"payment_intent": intent.id})
    assert rest.amount == 500
    with pytest.raises(stripe.InvalidRequestError) as empty:
        client.v1.refunds.create(params={"payment_intent": intent.id})
    assert empty.value.code == "charge_already_refunded"
    assert client.v1.refunds.retrieve(second.id).to_dict() == second.to_dict()
    charge = client.v1.payment_intents.retrieve(intent.id, params={"expand": ["latest_charge"]}).latest_charge
    assert (charge.amount_refunded, charge.refunded) == (1000, True)
    assert [r.id for r in charge.refunds.data] == [rest.id, second.id, first.id]
    got = events_of(receiver, 8)[2:]
    refunded = [r.body["data"]["object"] for r in got if r.event_type == "charge.refunded"]
    assert [(c["amount_refunded"], c["refunded"], len(c["refunds"]["data"])) for c in refunded] == [
        (300, False, 1),
        (500, False, 2),
        (1000, True, 3),
    ]
    created = [r.body["data"]["object"]["amount"] for r in got if r.event_type == "refund.created"]
    assert created == [300, 200, 500]
    assert all(verified(sandbox, r) for r in got)


def test_refund_refusals(sandbox, client):
    unpaid = create(client)
    with pytest.raises(stripe.InvalidRequestError) as not_paid:
        client.v1.refunds.create(params={"payment_intent": unpaid.id})
    assert not_paid.value.http_status == 400 and not_paid.value.error.type == "invalid_request_error"
    assert not_paid.value.param == "payment_intent"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.refunds.create(params={"payment_intent": "pi_" + "z" * 24})
    assert (unknown.value.http_status, unknown.value.code) == (404, "resource_missing")
    with pytest.raises(stripe.InvalidRequestError) as neither:
        client.v1.refunds.create(params={"amount": 100})
    assert "payment_intent or charge" in neither.value.user_message
    with pytest.raises(stripe.InvalidRequestError) as reason:
        client.v1.refunds.create(params={"payment_intent": unpaid.id, "reason": "abandoned"})
    assert reason.value.param == "reason"
    assert outcomes(sandbox, "refund") == ["rejected"] * 4


def test_refunds_are_listed_per_intent_newest_first(sandbox, client):
    intent, other = paid(sandbox, client, 1000), paid(sandbox, client, 500)
    made = [
        client.v1.refunds.create(
            params={"payment_intent": intent.id, "amount": amount, "metadata": {"refund_id": f"rf_{n}"}}
        )
        for n, amount in enumerate((100, 200, 300))
    ]
    client.v1.refunds.create(params={"payment_intent": other.id})
    listed = client.v1.refunds.list(params={"payment_intent": intent.id, "limit": 100})
    assert isinstance(listed, stripe.ListObject) and listed.object == "list" and listed.url == "/v1/refunds"
    assert [r.id for r in listed.data] == [r.id for r in reversed(made)] and listed.has_more is False
    assert [r.metadata["refund_id"] for r in listed.data] == ["rf_2", "rf_1", "rf_0"]
    first = client.v1.refunds.list(params={"payment_intent": intent.id, "limit": 2})
    assert [r.id for r in first.data] == [made[2].id, made[1].id] and first.has_more is True
    rest = client.v1.refunds.list(params={"payment_intent": intent.id, "limit": 2, "starting_after": made[1].id})
    assert [r.id for r in rest.data] == [made[0].id] and rest.has_more is False
    assert len(client.v1.refunds.list(params={"limit": 100}).data) == 4
    assert client.v1.refunds.list(params={"payment_intent": create(client).id}).data == []
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.refunds.list(params={"payment_intent": "pi_" + "z" * 24})
    assert (unknown.value.http_status, unknown.value.code, unknown.value.param) == (
        404,
        "resource_missing",
        "payment_intent",
    )
    with pytest.raises(stripe.InvalidRequestError) as too_many:
        client.v1.refunds.list(params={"limit": 101})
    assert too_many.value.param == "limit"
    assert set(outcomes(sandbox, "list")) == {"executed", "rejected"}


def test_a_saved_500_after_the_refund_was_made(sandbox, client):
    intent = paid(sandbox, client, 1000)
    sandbox.fault(gateway="stripe", mode="error500_saved_executed", operation="refund")
    params = {"payment_intent": intent.id, "metadata": {"refund_id": "rf_lost"}}
    for _ in range(2):
        with pytest.raises(stripe.APIError) as failed:
            client.v1.refunds.create(params=params, options={"idempotency_key": "k-refund"})
        assert failed.value.http_status == 500
    assert failed.value.headers["Idempotent-Replayed"] == "true"
    [made] = client.v1.refunds.list(params={"payment_intent": intent.id}).data  # made once, answer lost
    assert (made.amount, made.metadata["refund_id"]) == (1000, "rf_lost")
    log = [e for e in sandbox.requests_log(gateway="stripe") if e["operation"] == "refund"]
    assert [(e["outcome"], e["status"], e["executed"]) for e in log] == [
        ("injected_error500", 500, True),
        ("replayed", 500, False),
    ]


# Webhooks


def test_events_are_signed_as_stripe_signs_them(sandbox, client, receiver):
    intent = paid(sandbox, client)
    got = events_of(receiver, 2)
    for received in got:
        event = verified(sandbox, received)
        assert isinstance(event, stripe.Event) and event.id == received.body["id"]
        header = received.headers["stripe-signature"]
        assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64},v0=[0-9a-f]{64}", header)
        assert abs(int(header[2:12]) - time.time()) < 60
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(received.raw, header, "whsec_someoneElse", tolerance=300)
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(received.raw + b" ", header, sandbox.stripe_webhook_secret, tolerance=300)
        assert received.headers["content-type"].startswith("application/json")
        assert received.path == "/payment/stripe/webhook"
    body = got[0].body
    assert re.fullmatch(r"evt_[A-Za-z0-9]{24}", body["id"])
    fields = {"id", "object", "api_version", "created", "data", "livemode", "pending_webhooks", "request", "type"}
    assert set(body) == fields
    assert (body["object"], body["api_version"]) == ("event", "2026-10-28.endive")
    assert (body["livemode"], body["pending_webhooks"]) == (False, 1)
    assert body["data"]["object"]["id"] == intent.id and body["data"]["object"]["status"] == "succeeded"
    log = sandbox.webhook_log(gateway="stripe")
    assert [(e["eventType"], e["attempt"], e["status"]) for e in log] == [
        ("payment_intent.succeeded", 1, 200),
        ("charge.succeeded", 1, 200),
    ]
    assert log[0]["transmissionId"] == body["id"] and log[0]["orderId"] == intent.metadata["order_id"]


def test_failed_deliveries_are_retried_and_re_signed(sandbox, client, receiver):
    receiver.answer_with(500, 302, 404, 500)  # Stripe counts only 2xx; three retries in test mode
    intent = create(client)
    client.v1.payment_intents.cancel(intent.id)
    got = events_of(receiver, 4)
    time.sleep(70 * RETRY_BASE)  # past the schedule's 4th step: no fifth attempt
    assert [r.answered for r in receiver.received()] == [500, 302, 404, 500]
    assert len({r.body["id"] for r in got}) == 1
    assert all(verified(sandbox, r) for r in got)
    assert [e["attempt"] for e in sandbox.webhook_log(gateway="stripe")] == [1, 2, 3, 4]
    receiver.answer_with(204)
    other = create(client)
    client.v1.payment_intents.cancel(other.id)
    assert [r.answered for r in receiver.wait_for(other.metadata["order_id"], 1)] == [204]
    time.sleep(5 * RETRY_BASE)
    assert len(receiver.received(other.metadata["order_id"])) == 1  # a 204 is delivered


def test_duplicate_sends_the_same_event_twice(sandbox, client, receiver):
    sandbox.webhooks(gateway="stripe", duplicate=True)
    intent = create(client)
    client.v1.payment_intents.cancel(intent.id)
    got = events_of(receiver, 2)
    time.sleep(0.1)
    assert len(receiver.received(intent.metadata["order_id"])) == 2
    assert got[0].body["id"] == got[1].body["id"] and got[0].raw == got[1].raw
    assert all(verified(sandbox, r) for r in got)


def test_reorder_delivers_the_later_event_first(sandbox, client, receiver):
    sandbox.webhooks(gateway="stripe", reorder=True, delay_seconds=5)
    intent = paid(sandbox, client)
    got = events_of(receiver, 2)
    assert [r.event_type for r in got] == ["charge.succeeded", "payment_intent.succeeded"]  # newest first
    assert got[1].body["data"]["object"]["latest_charge"] == got[0].body["data"]["object"]["id"]
    assert got[0].body["data"]["object"]["payment_intent"] == intent.id
    assert sandbox.control("GET", "/webhooks")["stripe"]["reorder"] is True


def test_one_sender_delivers_one_at_a_time_and_more_deliver_concurrently(sandbox, client, receiver):
    receiver.delay_seconds = 0.3
    sandbox.webhooks(gateway="stripe", paused=True)
    for _ in range(3):
        paid(sandbox, client)  # 2 events each
    sandbox.webhooks(gateway="stripe", paused=False)
    events_of(receiver, 6)
    assert receiver.most_in_flight == 1  # the default: in order, one on the wire

    receiver.reset()
    receiver.delay_seconds = 0.3
    assert sandbox.control("POST", "/webhooks", {"gateway": "stripe", "senders": 4})["senders"] == 4
    sandbox.webhooks(gateway="stripe", paused=True)
    for _ in range(3):
        paid(sandbox, client)
    sandbox.webhooks(gateway="stripe", paused=False)
    got = events_of(receiver, 6)
    assert receiver.most_in_flight >= 2
    assert len({r.body["id"] for r in got}) == 6 and all(verified(sandbox, r) for r in got)


@pytest.mark.parametrize("senders", [0, 65, "4", True, 1.5])
def test_senders_must_be_a_whole_number_in_range(sandbox, senders):
    with pytest.raises(SandboxError, match="400"):
        sandbox.control("POST", "/webhooks", {"gateway": "stripe", "senders": senders})
    assert sandbox.control("GET", "/webhooks")["stripe"]["senders"] == 1


# Control


def test_processing_then_succeeded(sandbox, client, receiver):
    intent = create(client)
    assert sandbox.stripe_process(intent.id)["status"] == "processing"
    with pytest.raises(SandboxError, match="409"):
        sandbox.stripe_pay(intent.client_secret)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.cancel(intent.id)
    done = sandbox.stripe_succeed(intent.id)
    assert done["status"] == "succeeded" and done["latest_charge"]["payment_method_details"]["card"]["last4"] == "4242"
    got = events_of(receiver, 3)
    assert [r.event_type for r in got] == ["payment_intent.processing", "payment_intent.succeeded", "charge.succeeded"]
    with pytest.raises(SandboxError, match="409"):
        sandbox.stripe_process(intent.id)
    with pytest.raises(SandboxError, match="404"):
        sandbox.stripe_succeed("pi_missing")


def test_a_dispute_opens_on_the_charge(sandbox, client, receiver):
    intent = paid(sandbox, client, 4200)
    dispute = sandbox.stripe_dispute(intent.id)
    assert dispute["id"].startswith("dp_") and dispute["object"] == "dispute"
    assert (dispute["amount"], dispute["currency"]) == (4200, "usd")
    assert (dispute["reason"], dispute["status"]) == ("fraudulent", "needs_response")
    charge = client.v1.payment_intents.retrieve(intent.id, params={"expand": ["latest_charge"]}).latest_charge
    assert (dispute["charge"], dispute["payment_intent"], charge.disputed) == (charge.id, intent.id, True)
    got = events_of(receiver, 3)
    assert got[2].event_type == "charge.dispute.created" and got[2].body["data"]["object"]["id"] == dispute["id"]
    with pytest.raises(stripe.InvalidRequestError) as refund:
        client.v1.refunds.create(params={"payment_intent": intent.id})
    assert refund.value.code == "charge_disputed"
    with pytest.raises(SandboxError, match="409"):
        sandbox.stripe_dispute(intent.id)


def test_a_control_event_may_lie_without_changing_state(sandbox, client, receiver):
    intent = create(client)
    event_id = sandbox.stripe_event(intent.id, "payment_intent.succeeded", status="succeeded", amount_received=1000)
    [got] = events_of(receiver, 1)
    event = verified(sandbox, got)
    assert (event.id, event.type, event.data.object.status) == (event_id, "payment_intent.succeeded", "succeeded")
    assert event.request.id is None and event.request.idempotency_key is None
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_payment_method"
    with pytest.raises(SandboxError, match="409"):
        sandbox.stripe_event(intent.id, "charge.refunded")  # no charge yet
    with pytest.raises(SandboxError, match="400"):
        sandbox.stripe_event(intent.id, "customer.created")


def test_reset_forgets_stripe_too(sandbox, client):
    intent = create(client, key="before-reset")
    sandbox.fault(gateway="stripe", mode="error500_saved")
    sandbox.webhooks(gateway="stripe", paused=True)
    sandbox.reset()
    assert sandbox.requests_log(gateway="stripe") == [] and sandbox.stripe_intents() == []
    assert sandbox.control("GET", "/webhooks")["stripe"]["paused"] is False
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.retrieve(intent.id)
    assert create(client, key="before-reset").id != intent.id
