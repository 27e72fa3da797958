"""The outbox's gauges, read at scrape time (chatju.observability.database)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.engine import Connection

from chatju.db import utcnow
from chatju.payments.models import OutboxItem, OutboxState

BACKLOG_STATES = (OutboxState.PENDING, OutboxState.FAILED)


def read(conn: Connection, providers: Sequence[str]) -> list[Metric]:
    """Side effects not yet delivered, by state, and the age of the oldest one still pending.

    Effects are not labelled by provider: delivering them (a grant, a mail) involves no gateway.
    """
    backlog = GaugeMetricFamily(
        "chatju_outbox_backlog",
        "Side effects (entitlements, receipt mails) not yet delivered: pending or failed",
        labels=["state"],
    )
    oldest = GaugeMetricFamily(
        "chatju_outbox_oldest_pending_age_seconds", "Age of the oldest side effect still pending (0 when none)"
    )
    rows = conn.execute(
        sa.select(OutboxItem.state, sa.func.count(), sa.func.min(OutboxItem.created_at))
        .where(OutboxItem.state.in_(BACKLOG_STATES))
        .group_by(OutboxItem.state)
    ).all()
    counts = {str(state): count for state, count, _ in rows}
    for state in map(str, BACKLOG_STATES):
        backlog.add_metric([state], counts.get(state, 0))
    first = next((at for state, _, at in rows if state == OutboxState.PENDING), None)
    oldest.add_metric([], max((utcnow() - first).total_seconds(), 0.0) if first else 0.0)
    return [backlog, oldest]
