"""The drift report's rules, its window, and Toss's rows read as payments: pure logic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chatju.gateways.port import GatewayPayment, Window
from chatju.gateways.toss.transactions import from_rows
from chatju.payments.drift.compare import Held, compare
from chatju.payments.drift.window import WindowError, previous_day, window_of
from chatju.states import PaymentStatus as S

NOW = datetime(2026, 12, 4, 18, 30, tzinfo=UTC)


def held(status: S = S.PAID, amount: int = 13000, refunded: int = 0, **kw) -> Held:
    return Held("order-1", status, amount, refunded, kw.pop("currency", "KRW"), kw.pop("reference", "pk_1"), **kw)


def seen(target: S | None = S.PAID, approved: bool = True, refunded: int = 0, **kw) -> GatewayPayment:
    return GatewayPayment(
        reference=kw.pop("reference", "pk_1"),
        order_id="order-1",
        gateway_status=kw.pop("gateway_status", "DONE"),
        target=target,
        amount=kw.pop("amount", 13000),
        currency=kw.pop("currency", "KRW"),
        refunded_amount=refunded,
        approved=approved,
    )


@pytest.mark.parametrize(
    ("ours", "theirs", "kind"),
    [
        (held(), seen(), None),
        (None, seen(), "MISSING_HERE"),
        (held(S.EXPIRED, reference=None), seen(), "MISSING_HERE"),
        (held(S.FAILED, reference=None), seen(), "MISSING_HERE"),
        (held(), seen(reference="pk_other"), "MISSING_HERE"),
        (held(), None, "MISSING_THERE"),
        (
            held(S.REFUNDED, refunded=13000),
            seen(S.CANCELED, approved=False, gateway_status="CANCELED"),
            "MISSING_THERE",
        ),
        (held(), seen(S.PARTIALLY_REFUNDED, refunded=3000, gateway_status="PARTIAL_CANCELED"), "STATUS_MISMATCH"),
        (held(), seen(S.REFUNDED, refunded=13000, gateway_status="CANCELED"), "STATUS_MISMATCH"),
        (held(S.PARTIALLY_REFUNDED, refunded=3000), seen(S.PARTIALLY_REFUNDED, refunded=5000), "AMOUNT_MISMATCH"),
        (held(), seen(amount=12000), "AMOUNT_MISMATCH"),
        (held(currency="USD"), seen(currency="KRW"), "AMOUNT_MISMATCH"),
        (held(S.CANCELED, reference=None), seen(S.CANCELED, approved=False), None),
        (None, seen(S.PROCESSING, approved=False, amount=0), None),
        (None, None, None),
    ],
)
def test_what_differs(ours, theirs, kind):
    found = compare(ours, theirs)
    assert (found.kind if found else None) == kind
    if found:
        assert found.detail


@pytest.mark.parametrize("status", [S.PENDING, S.PROCESSING])
def test_payments_in_flight_are_reconciliations_not_differences(status):
    assert compare(held(status, reference=None), seen()) is None
    assert compare(held(refund_in_flight=True), seen(S.PARTIALLY_REFUNDED, refunded=100)) is None


def test_amount_mismatch_names_each_amount():
    found = compare(held(S.PARTIALLY_REFUNDED, refunded=3000), seen(S.PARTIALLY_REFUNDED, refunded=5000, amount=14000))
    assert found is not None
    assert found.detail == "captured: ours 13000, the gateway's 14000; refunded: ours 3000, the gateway's 5000"


def test_the_default_window_is_the_previous_utc_day():
    day = previous_day(NOW)
    assert day == window_of(None, None, NOW)
    assert (day.since, day.until) == (datetime(2026, 12, 3, tzinfo=UTC), datetime(2026, 12, 4, tzinfo=UTC))
    assert previous_day(datetime(2026, 12, 4, 8, 0, tzinfo=UTC) + timedelta(hours=9)) == day


def test_operator_windows():
    assert window_of("2026-12-01", "2026-12-02T12:00:00+09:00", NOW) == Window(
        datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, 3, tzinfo=UTC)
    )
    assert window_of("2026-12-04T10:00:00Z", None, NOW) == Window(datetime(2026, 12, 4, 10, tzinfo=UTC), NOW)
    assert window_of(None, "2026-12-02", NOW).since == datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("since", "until", "says"),
    [
        ("yesterday", None, "--since must be an ISO 8601 time"),
        ("2026-12-01", "2026-13-01", "--until must be an ISO 8601 time"),
        ("2026-12-02", "2026-12-01", "--since must be before --until"),
        ("2026-12-01", "2026-12-01", "--since must be before --until"),
        ("2026-10-01", "2026-12-01", "at most 31 days"),
        ("0001-01-01T00:00:00+09:00", "2026-12-01", "--since must be an ISO 8601 time"),
        ("2026-12-01\x00", None, "--since must be an ISO 8601 time"),
    ],
)
def test_bad_windows_say_why(since, until, says):
    with pytest.raises(WindowError, match=says):
        window_of(since, until, NOW)


def row(status: str, amount: int, at: str, key: str) -> dict:
    return {
        "transactionKey": key,
        "paymentKey": "pk_1",
        "orderId": "order-1",
        "method": "카드",
        "status": status,
        "amount": amount,
        "currency": "KRW",
        "transactionAt": at,
    }


def test_toss_rows_make_one_payment_in_the_order_they_happened():
    rows = [
        row("CANCELED", 10000, "2026-12-04T10:00:00+09:00", "t3"),
        row("DONE", 13000, "2026-12-04T09:00:00+09:00", "t1"),
        row("PARTIAL_CANCELED", 3000, "2026-12-04T09:30:00+09:00", "t2"),
    ]
    payment = from_rows("pk_1", rows)
    assert (payment.approved, payment.amount, payment.refunded_amount) == (True, 13000, 13000)
    assert (payment.gateway_status, payment.target, payment.method) == ("CANCELED", S.REFUNDED, "card")
    assert payment.approved_at == datetime(2026, 12, 4, tzinfo=UTC)
    waiting = from_rows("pk_1", [row("WAITING_FOR_DEPOSIT", 0, "2026-12-04T09:00:00+09:00", "t1")])
    assert (waiting.approved, waiting.target) == (False, S.PROCESSING)
