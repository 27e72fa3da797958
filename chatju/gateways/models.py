"""The audit trail of every call to a gateway."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from chatju.db import BigIntPK, utcnow
from chatju.extensions import Model


class GatewayCall(Model):
    __tablename__ = "gateway_calls"
    __table_args__ = (sa.Index("ix_gateway_calls_order_created", "order_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(20))
    operation: Mapped[str] = mapped_column(sa.String(40))  # confirm, fetch, cancel, create_intent, ...
    order_id: Mapped[str | None] = mapped_column(sa.String(64))
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(300))
    http_status: Mapped[int | None]
    duration_ms: Mapped[int]
    outcome: Mapped[str] = mapped_column(sa.String(20))  # ok, error, timeout, connection_error
    error_code: Mapped[str | None] = mapped_column(sa.String(100))
    # The gateway's answer with secrets and personal data removed; pruned after retention.
    response: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
