"""Sign-ins that can be ended: rotating refresh tokens, reuse detection, a grace, logout.

As Supabase's auth server (GoTrue) does it. Each refresh spends the presented token
and issues its successor. A spent token presented again is reuse: a stolen copy, or the
victim's own after a thief refreshed first; either way the whole sign-in is revoked.
The one exception is the grace (REFRESH_REUSE_GRACE_SECONDS) after the spend, when two
tabs refreshing at once both get the same new pair.

Lock order: a sign-in's row, then its tokens (every writer of the tokens holds the
sign-in's lock; logging out everywhere locks the user's sign-ins in id order).
"""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from chatju.auth import blocklist
from chatju.auth.models import RefreshToken, SignIn, User
from chatju.auth.service import hash_token
from chatju.auth.tokens import SIGN_IN_CLAIM, Grant, TokenPair, access_entry, new_id, sign_in_entry, sign_pair
from chatju.db import utcnow
from chatju.exceptions import NotAuthenticatedError
from chatju.extensions import db
from chatju.periodic import in_batches
from chatju.settings import current_settings

log = logging.getLogger(__name__)


class RefreshTokenReusedError(NotAuthenticatedError):
    """A spent refresh token came back after the grace: its sign-in is revoked, and that must be committed."""


def start(user: User) -> TokenPair:
    """A new sign-in of `user` and its first token pair."""
    now = _whole_seconds(utcnow())
    sign_in = SignIn(sid=new_id(), user_id=user.id, created_at=now, access_expires_at=now)
    db.session.add(sign_in)
    db.session.flush()
    return _issue(sign_in, user, None, now)


def refresh(user: User, jti: str, presented: str) -> TokenPair:
    """Spend the presented refresh token for the next pair (or, within the grace, the pair it was spent for)."""
    sign_in, token = _locked(user, jti, presented)
    now = utcnow()
    if token.spent_at is None:
        token.spent_at = now
        return _issue(sign_in, user, token, _whole_seconds(now))
    grace = timedelta(seconds=current_settings().refresh_reuse_grace_seconds)
    if now - token.spent_at <= grace:
        successor = db.session.execute(sa.select(RefreshToken).where(RefreshToken.parent_id == token.id)).scalar_one()
        return sign_pair(_grant(user, sign_in, successor))
    log.warning("refresh token reused: sign-in revoked", extra={"sign_in_id": sign_in.id, "user_id": user.id})
    try:
        _revoke(sign_in, now, "reuse")
    except blocklist.BlocklistUnavailableError:
        # The refresh tokens are revoked all the same (committed with the 401). While Redis is
        # down the database refuses this sign-in's access tokens; once it is back, they pass
        # until they expire (ACCESS_TOKEN_EXPIRES_SECONDS at most).
        log.error("reused sign-in revoked, its access tokens not blocklisted", extra={"sign_in_id": sign_in.id})
    raise RefreshTokenReusedError("This refresh token was already used; the sign-in has been ended.")


def end(user: User, claims: dict[str, Any], everywhere: bool) -> None:
    """Log out: the access token of `claims` and its sign-in, or every sign-in of the user."""
    now = utcnow()
    query = sa.select(SignIn).where(SignIn.user_id == user.id, SignIn.revoked_at.is_(None))
    if not everywhere:
        query = query.where(SignIn.sid == str(claims.get(SIGN_IN_CLAIM)))
    for sign_in in db.session.execute(query.order_by(SignIn.id).with_for_update()).scalars():
        _revoke(sign_in, now, "logout_everywhere" if everywhere else "logout")
    blocklist.current().add({access_entry(claims["jti"]): datetime.fromtimestamp(claims["exp"], UTC)})


def prune(now: datetime) -> int:
    """Forget refresh tokens past their expiry: the JWT is refused by then, so its row proves nothing."""
    return in_batches(RefreshToken, RefreshToken.expires_at < now, None)


def _locked(user: User, jti: str, presented: str) -> tuple[SignIn, RefreshToken]:
    """The token's sign-in, locked, and the token read under that lock; 401 unless both are live."""
    sign_in_id = db.session.execute(sa.select(RefreshToken.sign_in_id).where(RefreshToken.jti == jti)).scalar()
    sign_in = db.session.execute(
        sa.select(SignIn)
        .where(SignIn.id == sign_in_id, SignIn.user_id == user.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    token = db.session.execute(
        sa.select(RefreshToken).where(RefreshToken.jti == jti).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if sign_in is None or token is None or not hmac.compare_digest(token.token_hash, hash_token(presented)):
        raise NotAuthenticatedError("This refresh token is not valid; sign in again.")
    if sign_in.revoked_at is not None or token.revoked_at is not None or token.expires_at <= utcnow():
        raise NotAuthenticatedError("This sign-in has ended; sign in again.")
    return sign_in, token


def _issue(sign_in: SignIn, user: User, parent: RefreshToken | None, now: datetime) -> TokenPair:
    settings = current_settings()
    token = RefreshToken(
        sign_in_id=sign_in.id,
        parent_id=parent.id if parent else None,
        jti=new_id(),
        access_jti=new_id(),
        issued_at=now,
        expires_at=now + timedelta(seconds=settings.refresh_token_seconds),
        access_expires_at=now + timedelta(seconds=settings.access_token_seconds),
        token_hash="",
    )
    pair = sign_pair(_grant(user, sign_in, token))
    token.token_hash = hash_token(pair.refresh_token)
    db.session.add(token)
    sign_in.access_expires_at = max(sign_in.access_expires_at, token.access_expires_at)
    db.session.flush()
    return pair


def _grant(user: User, sign_in: SignIn, token: RefreshToken) -> Grant:
    return Grant(
        user_id=user.id,
        is_admin=user.is_admin,
        sign_in=sign_in.sid,
        refresh_jti=token.jti,
        access_jti=token.access_jti,
        issued_at=token.issued_at,
        expires_at=token.expires_at,
        access_expires_at=token.access_expires_at,
    )


def _revoke(sign_in: SignIn, now: datetime, reason: str) -> None:
    """End the sign-in: its refresh tokens now, its access tokens through the blocklist.

    The blocklist entry is written before the commit on purpose: should the commit fail,
    a sign-in blocked too early is harmless, while a 204 over a live token would not be.
    """
    sign_in.revoked_at = now
    sign_in.revoked_reason = reason
    db.session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.sign_in_id == sign_in.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    blocklist.current().add({sign_in_entry(sign_in.sid): sign_in.access_expires_at})


def _whole_seconds(moment: datetime) -> datetime:
    """JWT times are whole seconds: stored the same, the stored grant signs the same pair again."""
    return moment.replace(microsecond=0)
