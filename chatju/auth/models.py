"""Users, their one-time sign-in links, their sign-ins and the tokens those rotate through."""

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


class SignIn(Model):
    """One sign-in (a session, in GoTrue's words): its refresh tokens rotate and end together."""

    __tablename__ = "sign_ins"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # Its id in the tokens (the `sid` claim): random, so a blocklist entry never matches a later sign-in.
    sid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the newest access token issued in it expires: until then, ending it must also block access tokens.
    access_expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(sa.String(20))  # logout, logout_everywhere, reuse


class RefreshToken(Model):
    """One refresh token of a sign-in, by its JWT id; the token itself is kept only as a SHA-256 hash.

    Everything else the token pair was made of is kept too, so a second refresh with its parent
    within the grace gets the very same pair back (chatju.auth.sign_ins).
    """

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    sign_in_id: Mapped[int] = mapped_column(sa.ForeignKey("sign_ins.id", ondelete="CASCADE"), index=True)
    # The token this one replaced: unique, so one token is spent into one successor only.
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("refresh_tokens.id", ondelete="SET NULL"), unique=True)
    jti: Mapped[str] = mapped_column(sa.String(36), unique=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64))
    access_jti: Mapped[str] = mapped_column(sa.String(36))
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    access_expires_at: Mapped[datetime]
    spent_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class RevokedToken(Model):
    """The token blocklist where there is no Redis (the embedded default): an entry and when it lapses."""

    __tablename__ = "revoked_tokens"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    entry: Mapped[str] = mapped_column(sa.String(80), unique=True)  # access:<jti> or sign-in:<sid>
    expires_at: Mapped[datetime] = mapped_column(index=True)
