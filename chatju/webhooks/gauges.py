"""The inbox's gauges, read at scrape time (chatju.observability.database)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.engine import Connection

from chatju.db import utcnow
from chatju.webhooks.models import InboxState, WebhookEvent

BACKLOG_STATES = (InboxState.RECEIVED, InboxState.FAILED)


def read(conn: Connection, providers: Sequence[str]) -> list[Metric]:
    """Inbox backlog by provider and state, and the age of the oldest event waiting for a worker."""
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
    for provider in providers:
        for state in map(str, BACKLOG_STATES):
            backlog.add_metric([provider, state], counts.get((provider, state), 0))
        first = waiting.get(provider)
        oldest.add_metric([provider], max((now - first).total_seconds(), 0.0) if first else 0.0)
    return [backlog, oldest]
