"""Remembered responses of create requests sent with an `Idempotency-Key` header."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from chatju.db import BigIntPK, enum_column, utcnow
from chatju.extensions import Model


class KeyState(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


class IdempotencyKey(Model):
    __tablename__ = "idempotency_keys"
    __table_args__ = (sa.UniqueConstraint("user_id", "route", "key"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    route: Mapped[str] = mapped_column(sa.String(100))
    key: Mapped[str] = mapped_column(sa.String(255))
    request_hash: Mapped[str] = mapped_column(sa.String(64))  # SHA-256 of the canonical body
    state: Mapped[KeyState] = mapped_column(enum_column(KeyState, "state"))
    response_status: Mapped[int | None]
    response_body: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
