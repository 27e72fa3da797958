"""What a paid order buys."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from chatju.db import BigIntPK, enum_column, utcnow
from chatju.extensions import Model


class EntitlementStatus(enum.StrEnum):
    GRANTED = "granted"
    REVOKED = "revoked"


class Entitlement(Model):
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
