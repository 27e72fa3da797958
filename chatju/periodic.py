"""Running a periodic job (Celery beat): one run at a time, item by item.

Each run takes its job's advisory lock (a second run at the same time does
nothing) and commits per item, so one bad item never holds back the rest.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from chatju.extensions import db

log = logging.getLogger(__name__)
JOB_LOCK_SPACE = 0x7A5C << 48  # keeps these advisory keys apart from the per-payment sync locks
SKIPPED = {"skipped": 1}
Counts = dict[str, int]


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


def each(ids: list[int], work: Callable[[int], object], counts: Counts, label: str) -> None:
    """Run `work` per id in its own transaction; a failure is logged and counted, not fatal."""
    for item_id in ids:
        try:
            work(item_id)
            db.session.commit()
            counts[label] = counts.get(label, 0) + 1
        except Exception:
            db.session.rollback()
            counts["errors"] = counts.get("errors", 0) + 1
            log.exception("background item failed", extra={"job": label, "id": item_id})


def in_batches(model: Any, condition: Any, values: dict[str, Any] | None, size: int = 1000) -> int:
    """Delete (or blank with `values`) the matching rows a batch at a time, each in its own commit."""
    done = 0
    while True:
        ids = sa.select(model.id).where(condition).limit(size).scalar_subquery()
        statement = sa.delete(model) if values is None else sa.update(model).values(**values)
        affected: int = db.session.execute(statement.where(model.id.in_(ids))).rowcount  # type: ignore[attr-defined]
        db.session.commit()
        done += affected
        if affected < size:
            return done
