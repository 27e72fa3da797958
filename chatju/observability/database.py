"""Counts the database knows exactly, read at scrape time.

A gauge kept in process memory would drift (a worker that dies mid-change, a row
changed by hand); these are the truth, and every query is a small indexed one:
open inbox rows by `(state, received_at)`, open payments by `(status, updated_at)`.
The held-for-review count has no index of its own and scans `payments` (about 80 ms
at a million rows on PostgreSQL). A slow or unreachable database costs the scrape
at most `STATEMENT_TIMEOUT_MS`, and then only these families: the rest still answer,
with `chatju_metrics_database_up 0`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Connection

from chatju.db import utcnow
from chatju.extensions import db
from chatju.payments.models import Payment
from chatju.payments.states import PaymentStatus, Provider
from chatju.webhooks.models import InboxState, WebhookEvent

log = logging.getLogger(__name__)
STATEMENT_TIMEOUT_MS = 2000
BACKLOG_STATES = (InboxState.RECEIVED, InboxState.FAILED)
OPEN_STATUSES = (PaymentStatus.PENDING, PaymentStatus.PROCESSING)


class DatabaseCollector(Collector):
    """Inbox backlog, payments held for review and payments not yet final."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("chatju_metrics_database_up", "1 when the database gauges were read at this scrape")
        try:
            families = read()
        except sa.exc.SQLAlchemyError as exc:
            log.warning("metrics could not read the database", extra={"error": type(exc).__name__})
            families = []
        up.add_metric([], 1 if families else 0)
        yield from families
        yield up


def read() -> list[Metric]:
    with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
        return [*_inbox(conn), _held_for_review(conn), _open_payments(conn)]


def _inbox(conn: Connection) -> list[Metric]:
    backlog = GaugeMetricFamily(
        "chatju_webhook_inbox_backlog",
        "Inbox events not yet done: received (waiting for a worker) or failed (out of retries)",
        labels=["provider", "state"],
    )
    oldest = GaugeMetricFamily(
        "chatju_webhook_inbox_oldest_age_seconds",
        "Age of the oldest inbox event still waiting for a worker (0 when none)",
        labels=["provider"],
    )
    rows = conn.execute(
        sa.select(WebhookEvent.provider, WebhookEvent.state, sa.func.count(), sa.func.min(WebhookEvent.received_at))
        .where(WebhookEvent.state.in_(BACKLOG_STATES))
        .group_by(WebhookEvent.provider, WebhookEvent.state)
    ).all()
    counts = {(str(provider), str(state)): count for provider, state, count, _ in rows}
    waiting: dict[str, datetime] = {str(p): first for p, state, _, first in rows if state == InboxState.RECEIVED}
    now = utcnow()
    for provider in map(str, Provider):
        for state in map(str, BACKLOG_STATES):
            backlog.add_metric([provider, state], counts.get((provider, state), 0))
        first = waiting.get(provider)
        oldest.add_metric([provider], max((now - first).total_seconds(), 0.0) if first else 0.0)
    return [backlog, oldest]


def _held_for_review(conn: Connection) -> Metric:
    held = GaugeMetricFamily(
        "chatju_payments_needs_review", "Payments held for a person (NEEDS_REVIEW)", labels=["provider"]
    )
    rows = conn.execute(
        sa.select(Payment.provider, sa.func.count()).where(Payment.needs_review).group_by(Payment.provider)
    ).all()
    found = {str(provider): count for provider, count in rows}
    for provider in Provider:
        held.add_metric([str(provider)], found.get(str(provider), 0))
    return held


def _open_payments(conn: Connection) -> Metric:
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
    for provider in Provider:
        for status in OPEN_STATUSES:
            open_.add_metric([str(provider), str(status)], found.get((str(provider), str(status)), 0))
    return open_
