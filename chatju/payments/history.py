"""A user's payments, newest first, one keyset page at a time.

Pages are ordered by (created_at, id) descending and continue strictly after the last
row shown, so payments arriving between two requests never shift or repeat a page.
The index `ix_payments_user_created` (user_id, created_at DESC, id DESC) serves every
filter: the scan stays inside one user's rows and status/provider are checked on them
(docs/performance.md measures it and explains why no per-status index is kept).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from chatju.exceptions import InvalidRequestError
from chatju.extensions import db
from chatju.payments.models import Payment
from chatju.states import PaymentStatus
from chatju.validation import is_order_id

CURSOR_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


@dataclass(frozen=True)
class Position:
    """Where a page ends: the sort key of its last row."""

    created_at: datetime
    id: int


@dataclass(frozen=True)
class HistoryPage:
    payments: list[Payment]
    next_order_id: str | None  # the last row shown, when more rows follow


def encode_cursor(order_id: str) -> str:
    """The opaque cursor after `order_id`: base64url of {"after": orderId}, unpadded."""
    raw = json.dumps({"after": order_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> str:
    """The order id a cursor continues after; ValueError when it is not one of ours."""
    if not CURSOR_PATTERN.match(cursor):
        raise ValueError("cursor is malformed")
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("cursor is malformed") from None
    order_id = data.get("after") if isinstance(data, dict) and len(data) == 1 else None
    if not isinstance(order_id, str) or not is_order_id(order_id):
        raise ValueError("cursor is malformed")
    return order_id


def position_query(user_id: int, order_id: str) -> sa.Select[tuple[datetime, int]]:
    """The sort key of one order, found by its unique order id and only among the user's own."""
    return sa.select(Payment.created_at, Payment.id).where(Payment.order_id == order_id, Payment.user_id == user_id)


def position_after(user_id: int, order_id: str) -> Position:
    """The sort key of the user's own order `order_id`; 400 for anyone else's or none."""
    row = db.session.execute(position_query(user_id, order_id)).one_or_none()
    if row is None:
        raise InvalidRequestError(
            "The cursor does not belong to this history; start again without one.",
            {"fields": [{"field": "cursor", "message": "unknown cursor"}]},
        )
    return Position(row.created_at, row.id)


def history_query(
    user_id: int,
    limit: int,
    after: Position | None = None,
    status: PaymentStatus | None = None,
    provider: str | None = None,
) -> sa.Select[tuple[Payment]]:
    """The page's SELECT: one user's rows in index order, `limit` of them."""
    query = sa.select(Payment).where(Payment.user_id == user_id)
    if status is not None:
        query = query.where(Payment.status == status)
    if provider is not None:
        query = query.where(Payment.provider == provider)
    if after is not None:
        # A row-value comparison, so PostgreSQL seeks the index instead of filtering.
        query = query.where(sa.tuple_(Payment.created_at, Payment.id) < (after.created_at, after.id))
    return query.order_by(Payment.created_at.desc(), Payment.id.desc()).limit(limit)


def payment_history(
    user_id: int,
    limit: int,
    after_order_id: str | None = None,
    status: PaymentStatus | None = None,
    provider: str | None = None,
) -> HistoryPage:
    """Up to `limit` of the user's payments after `after_order_id`, newest first."""
    after = position_after(user_id, after_order_id) if after_order_id is not None else None
    # One row more than asked tells whether another page follows.
    rows = list(db.session.execute(history_query(user_id, limit + 1, after, status, provider)).scalars())
    more = len(rows) > limit
    return HistoryPage(rows[:limit], rows[limit - 1].order_id if more else None)
