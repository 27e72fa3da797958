"""The webhook inbox: every delivery stored once, processed later by a worker."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from chatju.db import BigIntPK, enum_column, utcnow
from chatju.extensions import Model


class InboxState(enum.StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"


class WebhookEvent(Model):
    __tablename__ = "webhook_events"
    __table_args__ = (
        sa.UniqueConstraint("provider", "event_id"),
        sa.Index("ix_webhook_events_state_received", "state", "received_at"),
        # The re-drive takes the due received events, soonest first.
        sa.Index("ix_webhook_events_state_next_attempt", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(20))
    # Stripe's event id; for Toss the transmission id header or the body's SHA-256.
    event_id: Mapped[str] = mapped_column(sa.String(255))
    event_type: Mapped[str | None] = mapped_column(sa.String(100))
    order_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    body: Mapped[str | None] = mapped_column(sa.Text)  # raw, as received; pruned after retention
    headers: Mapped[dict[str, Any] | None]
    state: Mapped[InboxState] = mapped_column(enum_column(InboxState, "state"))
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")  # failed tries and re-drives
    deliveries: Mapped[int] = mapped_column(default=1, server_default="1")
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    gateway_created_at: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.now())
