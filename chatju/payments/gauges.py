"""The payments' gauges, read at scrape time (chatju.observability.database).

The held-for-review count uses the partial index `ix_payments_needs_review`; open
payments are counted by `(status, updated_at)`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.engine import Connection

from chatju.payments.models import Payment
from chatju.states import PaymentStatus

OPEN_STATUSES = (PaymentStatus.PENDING, PaymentStatus.PROCESSING)


def read(conn: Connection, providers: Sequence[str]) -> list[Metric]:
    """Payments held for review, and payments not yet final, by provider."""
    return [_held_for_review(conn, providers), _open_payments(conn, providers)]


def _held_for_review(conn: Connection, providers: Sequence[str]) -> Metric:
    held = GaugeMetricFamily(
        "chatju_payments_needs_review", "Payments held for a person (NEEDS_REVIEW)", labels=["provider"]
    )
    rows = conn.execute(
        sa.select(Payment.provider, sa.func.count()).where(Payment.needs_review).group_by(Payment.provider)
    ).all()
    found = {str(provider): count for provider, count in rows}
    for provider in providers:
        held.add_metric([provider], found.get(provider, 0))
    return held


def _open_payments(conn: Connection, providers: Sequence[str]) -> Metric:
    """Only the statuses a payment leaves: totals of final ones would scan the whole table (see the counters)."""
    open_ = GaugeMetricFamily(
        "chatju_payments_open", "Payments not yet final, by status (PENDING, PROCESSING)", labels=["provider", "status"]
    )
    rows = conn.execute(
        sa.select(Payment.provider, Payment.status, sa.func.count())
        .where(Payment.status.in_(OPEN_STATUSES))
        .group_by(Payment.provider, Payment.status)
    ).all()
    found = {(str(provider), str(status)): count for provider, status, count in rows}
    for provider in providers:
        for status in OPEN_STATUSES:
            open_.add_metric([provider, str(status)], found.get((provider, str(status)), 0))
    return open_
