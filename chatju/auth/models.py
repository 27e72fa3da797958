"""Users and their one-time sign-in links."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from chatju.db import BigIntPK, TimestampMixin, utcnow
from chatju.extensions import Model


class User(TimestampMixin, Model):
    __tablename__ = "users"
    __table_args__ = (sa.CheckConstraint("premium_readings >= 0", name="premium_readings_not_negative"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    display_name: Mapped[str | None] = mapped_column(sa.String(100))
    is_admin: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Random per-user key given to Toss as customerKey: never the email or the id.
    customer_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    premium_readings: Mapped[int] = mapped_column(default=0, server_default="0")


class MagicLink(Model):
    __tablename__ = "magic_links"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), index=True)
    # SHA-256 of the token: the token itself exists only in the mail.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]
