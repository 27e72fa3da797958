"""Refunds paid into the customer's bank account: a deposited Toss virtual account, end to end with the sandbox."""

from __future__ import annotations

import json
import logging

import pytest
import sqlalchemy as sa

from chatju.extensions import db
from chatju.gateways.models import GatewayCall
from chatju.gateways.port import GatewayRequestError, Order, RefundAccount, RefundRequest
from chatju.gateways.registry import gateways
from chatju.payments.models import Payment, PaymentEvent, Refund
from tests.support.shopper import wait_until
from tests.support.stripe import StripeShopper
from tests.support.toss import TossShopper

pytestmark = pytest.mark.usefixtures("worker", "live_server")
NUMBER = "110123456789"
ACCOUNT = {"bank": "88", "accountNumber": NUMBER, "holderName": "김토스"}


@pytest.fixture
def buyer(make_user, auth_headers) -> dict[str, str]:
    return auth_headers(make_user("va-buyer@example.com"))


@pytest.fixture
def toss(app, client, sandbox, buyer) -> TossShopper:
    return TossShopper(app, client, sandbox, buyer)


@pytest.fixture
def admin(make_user, auth_headers) -> dict[str, str]:
    return auth_headers(make_user("admin@chatju.app", admin=True))


def deposited(toss: TossShopper) -> dict:
    """A virtual-account order the customer paid into: PAID, method virtual_account."""
    order = toss.create(productId="premium_reading")
    answer = toss.confirm(order, toss.checkout(order, card="virtual_account")["params"]["paymentKey"])
    assert answer.get_json()["status"] == "PROCESSING"
    toss.sandbox.deposit(order["orderId"])
    toss.wait_for(order, "PAID")
    assert toss.payment(order).method == "virtual_account"
    return order


def refund(client, admin, order, **body):
    return client.post(f"/payment/{order['orderId']}/refund", json=body, headers=admin)


def at_toss(toss: TossShopper, order: dict) -> dict:
    [payment] = [p for p in toss.sandbox.control("GET", "/toss/payments") if p["orderId"] == order["orderId"]]
    return payment


def rows(app, model, order: dict) -> list:
    with app.app_context():
        payment_id = db.session.execute(sa.select(Payment.id).where(Payment.order_id == order["orderId"])).scalar_one()
        column = model.order_id == order["orderId"] if model is GatewayCall else model.payment_id == payment_id
        found = list(db.session.execute(sa.select(model).where(column).order_by(model.id)).scalars())
        for row in found:
            db.session.expunge(row)
        return found


def assert_account_kept_out(app, order: dict, worker, caplog) -> None:
    """Neither logs, nor the audit trail, nor the ledger hold the account number (or the holder) in full."""
    calls = rows(app, GatewayCall, order)
    assert any(call.operation == "cancel" for call in calls)
    stored = json.dumps([call.response for call in calls] + [e.detail for e in rows(app, PaymentEvent, order)])
    logged = worker.log() + "\n".join(record.getMessage() + str(record.__dict__) for record in caplog.records)
    for text in (stored, logged):
        assert NUMBER not in text and "김토스" not in text
    assert all(refund.receive_account is None for refund in rows(app, Refund, order))  # erased once settled


def assert_unchanged(app, toss: TossShopper, order: dict) -> None:
    assert (toss.status(order), toss.payment(order).refunded_amount) == ("PAID", 0)
    assert rows(app, Refund, order) == []
    assert not [call for call in rows(app, GatewayCall, order) if call.operation == "cancel"]
    assert at_toss(toss, order)["status"] == "DONE"


def test_a_deposited_virtual_account_is_refunded_in_part_then_in_full(app, client, toss, admin, worker, caplog):
    caplog.set_level(logging.DEBUG)
    order = deposited(toss)
    partial = refund(client, admin, order, amount=3000, reason="partly", refundReceiveAccount=ACCOUNT)
    assert partial.status_code == 202, partial.get_json()
    assert NUMBER not in partial.get_data(as_text=True)
    toss.wait_for(order, "PARTIALLY_REFUNDED")
    spaced = {**ACCOUNT, "accountNumber": "110-123 456789"}  # as people write it: sent as digits
    rest = refund(client, admin, order, reason="the rest", refundReceiveAccount=spaced)
    assert rest.status_code == 202, rest.get_json()
    toss.wait_for(order, "REFUNDED")

    assert toss.payment(order).refunded_amount == order["amount"]
    at_gateway = at_toss(toss, order)
    assert (at_gateway["status"], at_gateway["balanceAmount"]) == ("CANCELED", 0)
    assert [c["cancelAmount"] for c in at_gateway["cancels"]] == [3000, order["amount"] - 3000]
    assert at_gateway["virtualAccount"]["refundReceiveAccount"] == ACCOUNT
    assert [r.status for r in rows(app, Refund, order)] == ["succeeded", "succeeded"]
    # The ledger shows where the money went, masked.
    requested = [e.detail["account"] for e in rows(app, PaymentEvent, order) if (e.detail or {}).get("account")]
    assert requested == [{"bank": "88", "accountNumber": "********6789"}] * 2
    assert_account_kept_out(app, order, worker, caplog)


def test_a_virtual_account_refund_without_the_account_is_refused(app, client, toss, admin):
    order = deposited(toss)
    response = refund(client, admin, order, reason="no account")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert [f["field"] for f in error["details"]["fields"]] == ["refundReceiveAccount"]
    assert "required" in error["message"]
    assert_unchanged(app, toss, order)


@pytest.mark.parametrize(
    ("account", "field"),
    [
        ({**ACCOUNT, "bank": "99"}, "refundReceiveAccount.bank"),
        ({**ACCOUNT, "bank": "신한은행"}, "refundReceiveAccount.bank"),
        ({**ACCOUNT, "accountNumber": "12345"}, "refundReceiveAccount.accountNumber"),
        ({**ACCOUNT, "accountNumber": "1" * 21}, "refundReceiveAccount.accountNumber"),
        ({**ACCOUNT, "accountNumber": "110123abc789"}, "refundReceiveAccount.accountNumber"),
        ({**ACCOUNT, "accountNumber": 110123456789}, "refundReceiveAccount.accountNumber"),
        ({**ACCOUNT, "holderName": "  "}, "refundReceiveAccount.holderName"),
        ({**ACCOUNT, "holderName": "김" * 61}, "refundReceiveAccount.holderName"),
        ({**ACCOUNT, "holderName": "김\x00토스"}, "refundReceiveAccount.holderName"),
        ({"bank": "88", "accountNumber": NUMBER}, "refundReceiveAccount.holderName"),
        ({**ACCOUNT, "branch": "강남"}, "refundReceiveAccount.branch"),
        ("88-110123456789", "refundReceiveAccount"),
    ],
)
def test_a_malformed_account_is_refused_at_the_edge(app, client, toss, admin, account, field):
    order = deposited(toss)
    response = refund(client, admin, order, reason="bad account", refundReceiveAccount=account)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in [f["field"] for f in error["details"]["fields"]]
    assert "110123" not in response.get_data(as_text=True)  # the answer names the field, never the value
    assert_unchanged(app, toss, order)


def test_a_card_payment_refuses_an_account(app, client, toss, admin):
    order = toss.create(productId="premium_reading")
    assert toss.confirm(order, toss.checkout(order)["params"]["paymentKey"]).get_json()["status"] == "PAID"
    response = refund(client, admin, order, reason="card", refundReceiveAccount=ACCOUNT)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert (error["code"], error["details"]["fields"][0]["field"]) == ("VALIDATION_ERROR", "refundReceiveAccount")
    assert "not accepted" in error["message"]
    assert_unchanged(app, toss, order)
    # Without one, the card refund goes through as before.
    assert refund(client, admin, order, reason="card", amount=1000).status_code == 202
    toss.wait_for(order, "PARTIALLY_REFUNDED")


def test_a_stripe_payment_refuses_an_account(app, client, sandbox, buyer, admin):
    stripe = StripeShopper(app, client, sandbox, buyer)
    order = stripe.create(productId="premium_reading")
    stripe.pay(order)
    stripe.wait_for(order, "PAID")
    response = refund(client, admin, order, reason="stripe", refundReceiveAccount=ACCOUNT)
    assert (response.status_code, response.get_json()["error"]["code"]) == (400, "VALIDATION_ERROR")
    assert rows(app, Refund, order) == []
    # The adapter refuses one too, before any call, should the core ever send it.
    with app.app_context():
        adapter = gateways().get("stripe")
        request = RefundRequest("rf_x", 100, "r", False, RefundAccount("88", NUMBER, "김토스"))
        with pytest.raises(GatewayRequestError) as refused:
            adapter.refund(Order(order["orderId"], 1000, "USD", started_reference="pi_x"), request)
    assert NUMBER not in str(refused.value)


def test_a_non_admin_cannot_refund_with_an_account(app, client, toss, buyer):
    order = deposited(toss)
    response = refund(client, buyer, order, reason="mine", refundReceiveAccount=ACCOUNT)
    assert (response.status_code, response.get_json()["error"]["code"]) == (403, "FORBIDDEN")
    assert_unchanged(app, toss, order)


def test_an_account_toss_refuses_fails_the_refund_and_changes_nothing(app, client, toss, admin, worker, caplog):
    caplog.set_level(logging.DEBUG)
    order = deposited(toss)
    mismatch = {**ACCOUNT, "accountNumber": "999" + NUMBER[3:]}  # the sandbox's bank: the holder does not match
    assert refund(client, admin, order, reason="wrong holder", refundReceiveAccount=mismatch).status_code == 202
    wait_until(lambda: [r.status for r in rows(app, Refund, order)] == ["failed"])
    [failed] = rows(app, Refund, order)
    assert (failed.failure_code, failed.receive_account) == ("INVALID_REFUND_ACCOUNT_INFO", None)
    assert (toss.status(order), at_toss(toss, order)["status"]) == ("PAID", "DONE")
    assert "999123456789" not in worker.log() + json.dumps([c.response for c in rows(app, GatewayCall, order)])
    # A new request with the right account goes through.
    assert refund(client, admin, order, reason="right holder", refundReceiveAccount=ACCOUNT).status_code == 202
    toss.wait_for(order, "REFUNDED")


def test_a_retried_refund_sends_the_account_again(app, client, toss, admin, sandbox):
    order = deposited(toss)
    sandbox.fault(mode="error500", count=2, operation="cancel")
    assert refund(client, admin, order, amount=2000, reason="retry", refundReceiveAccount=ACCOUNT).status_code == 202
    toss.wait_for(order, "PARTIALLY_REFUNDED", timeout=60)
    cancels = [c for c in rows(app, GatewayCall, order) if c.operation == "cancel"]
    assert [c.outcome for c in cancels] == ["error", "error", "ok"]
    assert len({c.idempotency_key for c in cancels}) == 1
    assert at_toss(toss, order)["virtualAccount"]["refundReceiveAccount"] == ACCOUNT
