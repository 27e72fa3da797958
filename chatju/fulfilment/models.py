"""What a paid order buys, and the side effects that deliver it exactly once."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from chatju.db import BigIntPK, enum_column, utcnow
from chatju.extensions import db


class EntitlementStatus(enum.StrEnum):
    GRANTED = "granted"
    REVOKED = "revoked"


class Entitlement(db.Model):
    """One premium reading granted by one paid order (unique per payment)."""

    __tablename__ = "entitlements"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    payment_id: Mapped[int] = mapped_column(sa.ForeignKey("payments.id", ondelete="RESTRICT"), unique=True)
    product_id: Mapped[str] = mapped_column(sa.String(64))
    quantity: Mapped[int] = mapped_column(default=1)
    status: Mapped[EntitlementStatus] = mapped_column(enum_column(EntitlementStatus, "status"))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class Effect(enum.StrEnum):
    GRANT = "grant_entitlement"
    RECEIPT = "receipt_mail"
    REVOKE = "revoke_entitlement"


class OutboxState(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class OutboxItem(db.Model):
    """A side effect of a status change, written in the same transaction, delivered by a task."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.UniqueConstraint("payment_id", "effect"),
        sa.Index("ix_outbox_state_created", "state", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    payment_id: Mapped[int] = mapped_column(sa.ForeignKey("payments.id", ondelete="RESTRICT"))
    effect: Mapped[Effect] = mapped_column(enum_column(Effect, "effect", 30))
    state: Mapped[OutboxState] = mapped_column(enum_column(OutboxState, "state"))
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    payload: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]
