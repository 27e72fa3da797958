"""One run of a periodic job at a time, however many beats or workers there are."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from chatju.extensions import db

JOB_LOCK_SPACE = 0x7A5C << 48  # keeps these advisory keys apart from the per-payment sync locks


@contextmanager
def job_lock(name: str) -> Iterator[bool]:
    """Yield True when this run holds the job's PostgreSQL advisory lock, False when another does.

    The lock lives on its own connection for the whole run, so the job can commit
    item by item. SQLite (the embedded default) has one beat and no such locks.
    """
    if db.engine.dialect.name != "postgresql":
        yield True
        return
    key = JOB_LOCK_SPACE + zlib.crc32(name.encode())
    with db.engine.connect() as conn:
        held = bool(conn.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar())
        conn.commit()
        try:
            yield held
        finally:
            if held:
                conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
                conn.commit()
