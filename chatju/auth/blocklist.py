"""The access-token blocklist: entries that refuse a token until it would have expired anyway.

An entry names one access token (`access:<jti>`) or every access token of a sign-in
(`sign-in:<id>`), and lapses when the last token it refuses expires, so the list stays
as small as the set of live revoked tokens.

With REDIS_URL it lives in Redis (one EXISTS per request, keys expiring with the token).
While Redis cannot be read, the database decides: a token whose sign-in is revoked is
still refused (`sign_ins` is the durable record of every logout and reuse), and only a
revoked token outside any sign-in (an operator's) passes meanwhile. A revocation that
cannot be written to Redis is refused with BlocklistUnavailableError (503, retry).

The embedded default has no Redis; web runs as several gunicorn processes there, so an
in-process set would let a token revoked in one process pass in another. The fallback is
therefore the database (`revoked_tokens`), which every process shares: one indexed
lookup per request, and the rows join the request's transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

import redis
import sqlalchemy as sa
from flask import Flask, current_app

from chatju.auth.models import RevokedToken, SignIn
from chatju.auth.tokens import SIGN_IN_CLAIM, revocation_entries
from chatju.config import Settings
from chatju.db import insert_for, utcnow
from chatju.extensions import db
from chatju.periodic import in_batches

log = logging.getLogger(__name__)
EXTENSION = "chatju.blocklist"
REDIS_TIMEOUT_SECONDS = 2


class BlocklistUnavailableError(Exception):
    """A revocation could not be recorded (Redis is unreachable): nothing was answered as done."""


class Blocklist(Protocol):
    def add(self, entries: Mapping[str, datetime]) -> None:
        """Refuse each entry until its time."""

    def refuses(self, claims: Mapping[str, Any]) -> bool:
        """Whether the access token of these claims is revoked."""


class RedisBlocklist:
    """Entries as Redis keys under the configured prefix, expiring at the entry's time."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = f"{prefix}auth:revoked:"

    def add(self, entries: Mapping[str, datetime]) -> None:
        now = utcnow()
        pipeline = self.client.pipeline(transaction=False)
        for entry, until in entries.items():
            if until > now:
                pipeline.set(self.prefix + entry, b"1", exat=until)
        try:
            pipeline.execute()
        except redis.RedisError as exc:
            raise BlocklistUnavailableError(str(exc)) from exc

    def refuses(self, claims: Mapping[str, Any]) -> bool:
        keys = [self.prefix + entry for entry in revocation_entries(claims)]
        try:
            return int(self.client.exists(*keys)) > 0
        except redis.RedisError as exc:
            log.error("token blocklist unreachable: the database decides", extra={"error": type(exc).__name__})
            return _sign_in_revoked(claims)


class DatabaseBlocklist:
    """Entries as rows of `revoked_tokens`, written in the current transaction."""

    def add(self, entries: Mapping[str, datetime]) -> None:
        now = utcnow()
        rows = [{"entry": entry, "expires_at": until} for entry, until in entries.items() if until > now]
        if rows:
            insert = insert_for(db.session, RevokedToken).values(rows)
            db.session.execute(insert.on_conflict_do_nothing(index_elements=["entry"]))

    def refuses(self, claims: Mapping[str, Any]) -> bool:
        entries = revocation_entries(claims)
        found = sa.select(RevokedToken.id).where(RevokedToken.entry.in_(entries), RevokedToken.expires_at > utcnow())
        return db.session.execute(found.limit(1)).first() is not None


def _sign_in_revoked(claims: Mapping[str, Any]) -> bool:
    if SIGN_IN_CLAIM not in claims:
        return False
    revoked = sa.select(SignIn.id).where(SignIn.sid == str(claims[SIGN_IN_CLAIM]), SignIn.revoked_at.is_not(None))
    return db.session.execute(revoked).first() is not None


def build(settings: Settings) -> Blocklist:
    if not settings.redis_url:
        return DatabaseBlocklist()
    client = redis.Redis.from_url(
        settings.redis_url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )
    return RedisBlocklist(client, settings.redis_key_prefix)


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions[EXTENSION] = build(settings)


def current() -> Blocklist:
    blocklist: Blocklist = current_app.extensions[EXTENSION]
    return blocklist


def prune(now: datetime) -> int:
    """Forget database entries that have lapsed (Redis expires its own)."""
    return in_batches(RevokedToken, RevokedToken.expires_at <= now, None)
