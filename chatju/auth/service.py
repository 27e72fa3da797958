"""Sign-in: one-time magic links and the users they create."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa

from chatju.auth.models import MagicLink, User
from chatju.db import insert_for, utcnow
from chatju.exceptions import NotAuthenticatedError
from chatju.extensions import db
from chatju.jobs import TaskNames, enqueue_after_commit
from chatju.periodic import in_batches
from chatju.settings import current_settings


def normalize_email(email: str) -> str:
    return email.strip().lower()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request_magic_link(email: str) -> None:
    """Store a hashed one-time token and mail the link once the row is committed."""
    email = normalize_email(email)
    token = secrets.token_urlsafe(32)
    lifetime = timedelta(seconds=current_settings().magic_link_seconds)
    db.session.add(MagicLink(email=email, token_hash=hash_token(token), expires_at=utcnow() + lifetime))
    # The token travels to the worker once; argsrepr keeps it out of Celery's logs.
    enqueue_after_commit(TaskNames.SEND_MAGIC_LINK, (email, token), argsrepr="(<email>, <token>)")


def redeem_magic_link(token: str) -> User:
    """Use a link exactly once: a single UPDATE claims it, so two redeemers cannot both win."""
    now = utcnow()
    claimed = db.session.execute(
        sa.update(MagicLink)
        .where(
            MagicLink.token_hash == hash_token(token),
            MagicLink.used_at.is_(None),
            MagicLink.expires_at > now,
        )
        .values(used_at=now)
        .returning(MagicLink.email)
    ).scalar_one_or_none()
    if claimed is None:
        raise NotAuthenticatedError("This sign-in link is invalid, expired or already used.")
    return get_or_create_user(claimed)


def get_or_create_user(email: str, make_admin: bool = False) -> User:
    """Find the user by email or create them; concurrent calls create one row."""
    email = normalize_email(email)
    db.session.execute(
        insert_for(db.session, User)
        .values(email=email, customer_key=new_customer_key())
        .on_conflict_do_nothing(index_elements=["email"])
    )
    user = db.session.execute(sa.select(User).where(User.email == email)).scalar_one()
    if make_admin and not user.is_admin:
        user.is_admin = True
    return user


def new_customer_key() -> str:
    """Toss customerKey: random, 2-50 characters of letters, digits and -_=.@"""
    return "cus_" + secrets.token_urlsafe(24)


def update_profile(user: User, display_name: str | None) -> User:
    user.display_name = display_name
    return user


def prune_links(before: datetime) -> int:
    """Forget links used or expired before `before`."""
    return in_batches(MagicLink, sa.or_(MagicLink.used_at < before, MagicLink.expires_at < before), None)
