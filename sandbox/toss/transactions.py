"""Toss's transactions (거래 조회): every approval and every cancel is a row of its own.

    GET /toss/v1/transactions?startDate=&endDate=[&startingAfter=][&limit=]

https://docs.tosspayments.com/reference#거래-조회 (reconciliation reference §A1):
- `startDate`, `endDate` (both required): Korean local times, `2022-01-01T00:00:00`
  (milliseconds allowed) or a date (`2022-01-01` is its 00:00:00); the end second is
  included. A bad or reversed date is `400 INVALID_DATE`.
- Rows oldest first, by `transactionAt`; `startingAfter=<transactionKey>` continues after
  that row (an unknown key: `400 INVALID_TRANSACTION_KEY`); `limit` 100 by default, at
  most 5000 (`400 EXCEED_MAX_QUERY_LIMIT`).
- The answer is a bare JSON array: no cursor and no `has_more`. Amounts are unsigned; the
  row's `status` says what it was (DONE: approval, CANCELED / PARTIAL_CANCELED: a cancel,
  WAITING_FOR_DEPOSIT with amount 0: a virtual account issued).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sandbox.clock import KST, kst_iso
from sandbox.toss.errors import TossError
from sandbox.toss.payments import MID, TossPayment

DEFAULT_LIMIT, MAX_LIMIT = 100, 5000


@dataclass
class Transaction:
    transaction_key: str
    payment_key: str
    order_id: str
    method: str
    customer_key: str | None
    receipt_url: str
    status: str
    amount: int
    at: datetime  # to the second, as Toss shows it

    def to_json(self) -> dict[str, Any]:
        return {
            "mId": MID,
            "transactionKey": self.transaction_key,
            "paymentKey": self.payment_key,
            "orderId": self.order_id,
            "method": self.method,
            "customerKey": self.customer_key,
            "useEscrow": False,
            "receiptUrl": self.receipt_url,
            "status": self.status,
            "transactionAt": kst_iso(self.at),
            "currency": "KRW",
            "amount": self.amount,
        }


class TransactionLog:
    """The rows, in the order they happened; the store calls it with its lock held."""

    def __init__(self) -> None:
        self._rows: list[Transaction] = []

    def record(self, payment: TossPayment, status: str, amount: int, key: str, at: datetime) -> None:
        row = Transaction(
            key, payment.payment_key, payment.order_id, payment.method, payment.customer_key,
            payment.receipt_url, status, amount, at.astimezone(KST).replace(microsecond=0),
        )  # fmt: skip
        self._rows.append(row)

    def page(self, start: datetime, end: datetime, after: str | None, limit: int) -> list[dict[str, Any]]:
        """Rows from `start` to `end` (its second included), oldest first, after the row `after`."""
        rows = sorted((r for r in self._rows if start <= r.at <= end), key=lambda r: r.at)
        if after is not None:
            keys = [row.transaction_key for row in rows]
            if after not in keys:
                raise TossError("INVALID_TRANSACTION_KEY")
            rows = rows[keys.index(after) + 1 :]
        return [row.to_json() for row in rows[:limit]]

    def forget(self, payment_keys: set[str]) -> None:
        self._rows = [row for row in self._rows if row.payment_key not in payment_keys]

    def shift(self, payment_keys: set[str], by: timedelta) -> None:
        for row in self._rows:
            if row.payment_key in payment_keys:
                row.at -= by

    def reset(self) -> None:
        self._rows.clear()


def local_time(value: str | None, end: bool = False) -> datetime:
    """A `startDate` / `endDate` as an aware Korean time; a date alone is its first second."""
    if not value:
        raise TossError("INVALID_DATE")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise TossError("INVALID_DATE") from None
    parsed = parsed.replace(tzinfo=KST) if parsed.tzinfo is None else parsed.astimezone(KST)
    return parsed.replace(microsecond=0) if end else parsed


def limit_of(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not value.isdigit() or int(value) < 1:
        raise TossError("INVALID_REQUEST", "limit 값이 올바르지 않습니다.")
    if int(value) > MAX_LIMIT:
        raise TossError("EXCEED_MAX_QUERY_LIMIT")
    return int(value)
