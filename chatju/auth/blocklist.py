"""The access-token blocklist: entries that refuse a token until it would have expired anyway.

An entry names one access token (`access:<jti>`) or every access token of a sign-in
(`sign-in:<id>`), and lapses when the last token it refuses expires, so the list stays
as small as the set of live revoked tokens.

With REDIS_URL it lives in Redis (one EXISTS per request, keys expiring with the token).
The embedded default has no Redis; web runs as several gunicorn processes there, so an
in-process set would let a token revoked in one process pass in another. The fallback is
therefore the database (`revoked_tokens`), which every process shares: one indexed
lookup per request, and the rows join the request's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

import redis
import sqlalchemy as sa
from flask import Flask, current_app

from chatju.auth.models import RevokedToken
from chatju.config import Settings
from chatju.db import insert_for, utcnow
from chatju.extensions import db
from chatju.periodic import in_batches

EXTENSION = "chatju.blocklist"
REDIS_TIMEOUT_SECONDS = 2


class Blocklist(Protocol):
    def add(self, entries: Mapping[str, datetime]) -> None:
        """Refuse each entry until its time."""

    def contains_any(self, entries: Sequence[str]) -> bool:
        """Whether any of these entries is refused now."""


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
        pipeline.execute()

    def contains_any(self, entries: Sequence[str]) -> bool:
        return bool(entries) and int(self.client.exists(*(self.prefix + entry for entry in entries))) > 0


class DatabaseBlocklist:
    """Entries as rows of `revoked_tokens`, written in the current transaction."""

    def add(self, entries: Mapping[str, datetime]) -> None:
        now = utcnow()
        rows = [{"entry": entry, "expires_at": until} for entry, until in entries.items() if until > now]
        if rows:
            insert = insert_for(db.session, RevokedToken).values(rows)
            db.session.execute(insert.on_conflict_do_nothing(index_elements=["entry"]))

    def contains_any(self, entries: Sequence[str]) -> bool:
        found = sa.select(RevokedToken.id).where(RevokedToken.entry.in_(entries), RevokedToken.expires_at > utcnow())
        return bool(entries) and db.session.execute(found.limit(1)).first() is not None


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
