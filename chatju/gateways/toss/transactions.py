"""Toss's transactions (거래 조회) as the port's payments, for the drift report.

https://docs.tosspayments.com/reference#거래-조회 — every approval and every cancel is a row
of its own (`transactionKey`), sharing the payment's `paymentKey`; amounts are unsigned, the
row's `status` says which it is. Rows are asked for between two Korean local times and paged
with `startingAfter=<the last row's transactionKey>` until a page comes back short.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from chatju.gateways.port import GatewayPayment, TransientGatewayError, Window
from chatju.gateways.toss.client import TossClient
from chatju.gateways.toss.mapping import KST, METHODS, parse_time, target_status

APPROVED = "DONE"
CANCELS = frozenset({"CANCELED", "PARTIAL_CANCELED"})
MAX_PAGE = 5000  # Toss's largest `limit`


def list_payments(client: TossClient, window: Window, page_size: int, now: datetime) -> list[GatewayPayment]:
    """Each Toss payment with a row in `window`, as its rows up to now tell it.

    The rows are read up to now, not only to the window's end, so a refund made since is
    seen. A payment approved before the listing began shows only its cancels: it is
    looked up whole (one call each; refunds are few).
    """
    by_payment: dict[str, list[dict[str, Any]]] = {}
    for row in _rows(client, window.since, max(window.until, now), page_size):
        by_payment.setdefault(str(row["paymentKey"]), []).append(row)
    found: list[GatewayPayment] = []
    for key, rows in by_payment.items():
        if not any(window.holds(parse_time(row.get("transactionAt"))) for row in rows):
            continue
        approved = any(row.get("status") == APPROVED for row in rows)
        cancelled = any(row.get("status") in CANCELS for row in rows)
        found.append(client.fetch(key) if cancelled and not approved else from_rows(key, rows))
    return found


def from_rows(key: str, rows: list[dict[str, Any]]) -> GatewayPayment:
    """One payment from all its rows (its approval among them), in the order they happened."""
    rows = sorted(rows, key=_when)
    approvals = [row for row in rows if row.get("status") == APPROVED]
    approved = bool(approvals)
    last = rows[-1]
    status = str(last.get("status") or "")
    refunded = sum(_amount(row) for row in rows if row.get("status") in CANCELS)
    return GatewayPayment(
        reference=key,
        order_id=_text(last.get("orderId")),
        gateway_status=status,
        target=target_status(status, approved),
        amount=sum(_amount(row) for row in approvals),
        currency=str(last.get("currency") or "").upper(),
        refunded_amount=refunded if approved else 0,
        approved=approved,
        method=METHODS.get(str(last.get("method") or "")),
        approved_at=parse_time(approvals[0].get("transactionAt")) if approvals else None,
    )


def _rows(client: TossClient, since: datetime, until: datetime, page_size: int) -> Iterator[dict[str, Any]]:
    """Every row from `since` to `until`, each once, however the pages fall."""
    start, end = _local(since), _local(until - timedelta(seconds=1))
    limit = max(1, min(page_size, MAX_PAGE))
    after: str | None = None
    seen: set[str] = set()
    while True:
        page = client.list_transactions(start, end, after, limit)
        for row in page:
            transaction = _readable(row)
            if transaction not in seen:
                seen.add(transaction)
                yield row
        if len(page) < limit:
            return
        after = _readable(page[-1])


def _readable(row: dict[str, Any]) -> str:
    """The row's transactionKey; a row without its keys cannot be compared, so the listing cannot finish."""
    key, payment = row.get("transactionKey"), row.get("paymentKey")
    if not (isinstance(key, str) and key and isinstance(payment, str) and payment):
        raise TransientGatewayError("INVALID_RESPONSE", "Toss listed a transaction without its keys.", 200)
    return key


def _local(at: datetime) -> str:
    """Korean local time to the second, as the transactions API reads its dates."""
    return at.astimezone(KST).replace(tzinfo=None, microsecond=0).isoformat()


def _when(row: dict[str, Any]) -> datetime:
    return parse_time(row.get("transactionAt")) or datetime.min.replace(tzinfo=KST)


def _amount(row: dict[str, Any]) -> int:
    value = row.get("amount")
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
