"""Reading Toss's answers: statuses, errors, times, redaction."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chatju.gateways.port import GatewayRefusal, GatewayRequestError, TransientGatewayError
from chatju.gateways.toss.client import confirm_key
from chatju.gateways.toss.errors import error_from
from chatju.gateways.toss.mapping import parse_time, redact, to_payment
from chatju.states import PaymentStatus

DONE = {
    "paymentKey": "tgen_123",
    "orderId": "ord_abcdefghijklmnopqrstu",
    "status": "DONE",
    "method": "카드",
    "currency": "KRW",
    "totalAmount": 13000,
    "balanceAmount": 13000,
    "approvedAt": "2024-02-13T12:18:14+09:00",
    "card": {"issuerCode": "71", "number": "12345678****000*", "amount": 13000},
    "receipt": {"url": "https://receipt.example/1"},
    "secret": "ps_secret",
    "failure": None,
}


def test_a_done_payment_is_paid_with_its_details():
    seen = to_payment(DONE)
    assert seen.target == PaymentStatus.PAID and seen.approved
    assert (seen.amount, seen.currency, seen.refunded_amount) == (13000, "KRW", 0)
    assert seen.method == "card" and seen.card_brand == "Lotte Card" and seen.card_last4 is None
    assert seen.approved_at == datetime(2024, 2, 13, 3, 18, 14, tzinfo=UTC)
    assert seen.raw["secret"] == "[redacted]" and seen.raw["card"]["number"] == "[redacted]"


@pytest.mark.parametrize(
    ("status", "extra", "target", "refunded"),
    [
        ("PARTIAL_CANCELED", {"balanceAmount": 3000}, PaymentStatus.PARTIALLY_REFUNDED, 10000),
        ("CANCELED", {"balanceAmount": 0}, PaymentStatus.REFUNDED, 13000),
        (
            "ABORTED",
            {"approvedAt": None, "failure": {"code": "REJECT_CARD_PAYMENT", "message": "x"}},
            PaymentStatus.FAILED,
            0,
        ),
        ("EXPIRED", {"approvedAt": None}, PaymentStatus.FAILED, 0),
        ("IN_PROGRESS", {"approvedAt": None}, None, 0),
        ("READY", {"approvedAt": None}, None, 0),
        ("WAITING_FOR_DEPOSIT", {"method": "가상계좌"}, PaymentStatus.PROCESSING, 0),
    ],
)
def test_statuses_map_to_ours(status, extra, target, refunded):
    seen = to_payment({**DONE, "status": status, **extra})
    assert seen.target == target
    assert seen.refunded_amount == refunded


def test_a_cancelled_virtual_account_is_not_taken_for_a_paid_one():
    seen = to_payment({**DONE, "status": "CANCELED", "method": "가상계좌", "balanceAmount": 0})
    assert seen.target == PaymentStatus.CANCELED and not seen.approved


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (500, "FAILED_INTERNAL_SYSTEM_PROCESSING", TransientGatewayError),
        (400, "PROVIDER_ERROR", TransientGatewayError),
        (409, "IDEMPOTENT_REQUEST_PROCESSING", TransientGatewayError),
        (429, None, TransientGatewayError),
        (403, "FORBIDDEN_CONSECUTIVE_REQUEST", TransientGatewayError),
        (403, "REJECT_CARD_PAYMENT", GatewayRefusal),
        (400, "INVALID_CARD_NUMBER", GatewayRefusal),
        (401, "UNAUTHORIZED_KEY", GatewayRequestError),
        (400, "INVALID_REQUEST", GatewayRequestError),
    ],
)
def test_errors_are_typed(status, code, kind):
    error = error_from(status, {"code": code, "message": "m"} if code else {})
    assert type(error) is kind
    assert error.retryable == (kind is TransientGatewayError)


def test_webhook_times_without_a_zone_are_korean():
    assert parse_time("2024-02-13T12:18:15.123456") == datetime(2024, 2, 13, 3, 18, 15, 123456, tzinfo=UTC)
    assert parse_time("2026-01-02T14:46:59.65327") is not None
    assert parse_time("garbage") is None and parse_time(None) is None


def test_confirm_key_is_stable_per_card():
    assert confirm_key("ord_1", "pk_a") == confirm_key("ord_1", "pk_a") != confirm_key("ord_1", "pk_b")


def test_redact_removes_personal_data_at_any_depth():
    value = {"virtualAccount": {"accountNumber": "X123", "customerName": "홍길동"}, "cancels": [{"holderName": "a"}]}
    assert redact(value) == {
        "virtualAccount": {"accountNumber": "[redacted]", "customerName": "[redacted]"},
        "cancels": [{"holderName": "[redacted]"}],
    }
