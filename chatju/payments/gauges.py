"""The payments' gauges, read at scrape time (chatju.observability.database).

The held-for-review count uses the partial index `ix_payments_needs_review`; open
payments are counted by `(status, updated_at)`, refunds in flight by `(status, created_at)`.
The ages tell reconciliation's work apart from its failure: a payment or refund it
should have settled that is still open long after `RECONCILE_AFTER_SECONDS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.engine import Connection

from chatju.db import utcnow
from chatju.payments.models import Payment, Refund, RefundStatus
from chatju.states import PaymentStatus

OPEN_STATUSES = (PaymentStatus.PENDING, PaymentStatus.PROCESSING)
# A virtual account waits for its deposit in PROCESSING for days: that is the customer's pace, not a stuck sync.
AWAITING_DEPOSIT = "virtual_account"


def read(conn: Connection, providers: Sequence[str]) -> list[Metric]:
    """Payments held for review, payments not yet final, and what reconciliation has yet to settle, by provider."""
    return [
        _held_for_review(conn, providers),
        _open_payments(conn, providers),
        _oldest_processing(conn, providers),
        *_refunds_in_flight(conn, providers),
    ]


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


def _oldest_processing(conn: Connection, providers: Sequence[str]) -> Metric:
    oldest = GaugeMetricFamily(
        "chatju_payments_processing_oldest_age_seconds",
        "Seconds since the oldest PROCESSING payment last changed (virtual accounts awaiting a deposit aside; 0: none)",
        labels=["provider"],
    )
    rows = conn.execute(
        sa.select(Payment.provider, sa.func.min(Payment.updated_at))
        .where(
            Payment.status == PaymentStatus.PROCESSING,
            sa.or_(Payment.method.is_(None), Payment.method != AWAITING_DEPOSIT),
        )
        .group_by(Payment.provider)
    ).all()
    _add_ages(oldest, providers, {str(provider): first for provider, first in rows})
    return oldest


def _refunds_in_flight(conn: Connection, providers: Sequence[str]) -> list[Metric]:
    """Refunds asked of a gateway that has not answered for good yet: how many, and since when."""
    count = GaugeMetricFamily(
        "chatju_refunds_pending", "Refunds requested and not yet settled by the gateway", labels=["provider"]
    )
    oldest = GaugeMetricFamily(
        "chatju_refunds_pending_oldest_age_seconds",
        "Seconds since the oldest refund still pending was requested (0: none)",
        labels=["provider"],
    )
    rows = conn.execute(
        sa.select(Payment.provider, sa.func.count(), sa.func.min(Refund.created_at))
        .join(Payment, Payment.id == Refund.payment_id)
        .where(Refund.status == RefundStatus.PENDING)
        .group_by(Payment.provider)
    ).all()
    counts = {str(provider): number for provider, number, _ in rows}
    for provider in providers:
        count.add_metric([provider], counts.get(provider, 0))
    _add_ages(oldest, providers, {str(provider): first for provider, _, first in rows})
    return [count, oldest]


def _add_ages(family: GaugeMetricFamily, providers: Sequence[str], since: dict[str, datetime | None]) -> None:
    now = utcnow()
    for provider in providers:
        first = since.get(provider)
        family.add_metric([provider], max((now - first).total_seconds(), 0.0) if first else 0.0)
