"""Stored answers for `Idempotency-Key` (SPEC §4): the same key and body replay the first answer.

A key is reserved in its own committed transaction, so a concurrent request with
the same key sees it at once (`IDEMPOTENCY_KEY_IN_USE`); the stored answer is
written in the same transaction as the work it describes (chatju.api.idempotency).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from chatju.db import insert_for, table_of, utcnow
from chatju.exceptions import ConflictError, InvalidRequestError
from chatju.extensions import db
from chatju.idempotency.models import IdempotencyKey, KeyState
from chatju.periodic import in_batches
from chatju.validation import is_idempotency_key

KEY_TTL = timedelta(hours=24)
# A reservation this old belongs to a request that died mid-way; a retry may take it over.
ABANDONED_AFTER = timedelta(minutes=2)
MAX_KEY_LENGTH = 255
StoredAnswer = tuple[dict[str, Any], int]


def request_hash(raw: bytes) -> str:
    """SHA-256 of the body compared canonically (key order and spacing do not matter)."""
    try:
        canonical = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except (ValueError, RecursionError):
        canonical = raw
    return hashlib.sha256(canonical).hexdigest()


# Never kept in the store: a replay fills it in from the live order (chatju.api.stripe).
UNSTORED_FIELDS = ("clientSecret",)


def remember(key_id: int, body: dict[str, Any], status: int, final: bool = True) -> None:
    """Store the answer for the key, in the caller's transaction.

    A provisional answer (`final=False`) keeps the key in progress, so a concurrent
    repeat still gets IDEMPOTENCY_KEY_IN_USE; it is what a repeat gets only if the
    request dies before its final answer.
    """
    stored = {name: (None if name in UNSTORED_FIELDS else value) for name, value in body.items()}
    db.session.execute(
        sa.update(IdempotencyKey)
        .where(IdempotencyKey.id == key_id)
        .values(
            state=KeyState.COMPLETED if final else KeyState.IN_PROGRESS, response_status=status, response_body=stored
        )
    )


def check_key(key: str) -> None:
    """One rule (chatju.validation): 1-255 visible ASCII characters, the same bytes from every client."""
    if not is_idempotency_key(key):
        raise InvalidRequestError(
            f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} visible ASCII characters (letters, digits, punctuation)."
        )


def reserve(user_id: int, route: str, key: str, digest: str) -> int | StoredAnswer:
    """Reserve the key (returns its row id) or answer from it (returns the stored response)."""
    now = utcnow()
    with db.engine.begin() as conn:
        table = table_of(IdempotencyKey)
        row_id = conn.execute(
            insert_for(conn, table)
            .values(
                user_id=user_id, route=route, key=key, request_hash=digest, state=KeyState.IN_PROGRESS, created_at=now
            )
            .on_conflict_do_nothing(index_elements=["user_id", "route", "key"])
            .returning(table.c.id)
        ).scalar_one_or_none()
        if row_id is not None:
            return int(row_id)
        row = conn.execute(
            sa.select(table)
            .where(table.c.user_id == user_id, table.c.route == route, table.c.key == key)
            .with_for_update()
        ).one()
        expired = row.created_at < now - KEY_TTL
        abandoned = row.state == KeyState.IN_PROGRESS and row.created_at < now - ABANDONED_AFTER
        if abandoned and row.response_body is not None and row.request_hash == digest:
            return row.response_body, row.response_status  # its work was committed: never done twice
        if expired or abandoned:
            conn.execute(
                sa.update(table)
                .where(table.c.id == row.id)
                .values(
                    request_hash=digest,
                    state=KeyState.IN_PROGRESS,
                    created_at=now,
                    response_status=None,
                    response_body=None,
                )
            )
            return int(row.id)
    if row.request_hash != digest:
        raise ConflictError(
            "This Idempotency-Key was used with a different request body.", code="IDEMPOTENCY_KEY_REUSED"
        )
    if row.state == KeyState.IN_PROGRESS:
        raise ConflictError(
            "A request with this Idempotency-Key is still being processed.", code="IDEMPOTENCY_KEY_IN_USE"
        )
    return row.response_body, row.response_status


def release(row_id: int) -> None:
    """Forget a reservation whose request failed: the client may send it again."""
    with db.engine.begin() as conn:
        conn.execute(sa.delete(table_of(IdempotencyKey)).where(table_of(IdempotencyKey).c.id == row_id))


def prune(now: datetime) -> int:
    """Forget the keys older than their 24 hours."""
    return in_batches(IdempotencyKey, IdempotencyKey.created_at < now - KEY_TTL, None)
