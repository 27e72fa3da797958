"""Running a periodic job (Celery beat): one run at a time, item by item, each row at its own pace.

Each run takes its job's advisory lock (a second run at the same time does
nothing) and commits per item, so one bad item never holds back the rest. A job
takes only the rows whose `next_attempt_at` is due, soonest first, and sets each
one forward by its own backoff before working on it (`take_due`): a row that keeps
failing, or that the work leaves where it was, waits longer each time and never
holds the front of the batch; one that changes state leaves the job's set.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from chatju.db import UTCDateTime, utcnow
from chatju.extensions import db
from chatju.settings import current_settings

log = logging.getLogger(__name__)
JOB_LOCK_SPACE = 0x7A5C << 48  # keeps these advisory keys apart from the per-payment sync locks
SKIPPED = {"skipped": 1}
Counts = dict[str, int]
BACKOFF_CAP = timedelta(hours=1)


@contextmanager
def job_lock(name: str) -> Iterator[bool]:
    """Yield True when this run holds the job's PostgreSQL advisory lock, False when another does.

    The lock is transaction-scoped, held by a transaction of its own that stays open for
    the whole run (it writes nothing and holds no snapshot between statements), while the
    job commits item by item on the session. Ending that transaction releases it, so it
    holds through PgBouncer's transaction pooling and cannot outlive a crashed run.
    SQLite (the embedded default) has one beat and no such locks.
    """
    if db.engine.dialect.name != "postgresql":
        yield True
        return
    key = JOB_LOCK_SPACE + zlib.crc32(name.encode())
    with db.engine.connect() as conn, conn.begin():
        yield bool(conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(key))).scalar())


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


def backoff(attempts: int, cap: timedelta = BACKOFF_CAP) -> timedelta:
    """How long a row waits after its try number `attempts` + 1: one job interval, doubled each try, at most `cap`."""
    seconds = current_settings().reconcile_interval_seconds * 2 ** min(attempts, 32)
    return min(timedelta(seconds=seconds), cap)


def due_rows(model: Any, tries: Any, condition: Any, size: int, *columns: Any) -> Sequence[sa.Row[Any]]:
    """Up to `size` rows matching `condition` whose next attempt is due, soonest first: (id, tries, *columns).

    The rows are locked for this transaction; rows another transaction holds (a worker
    busy with them) are skipped on PostgreSQL, so the job never waits behind one.
    """
    return db.session.execute(
        sa.select(model.id, tries, *columns)
        .where(condition, model.next_attempt_at <= utcnow())
        .order_by(model.next_attempt_at)
        .limit(size)
        .with_for_update(skip_locked=True)
    ).all()


def defer(model: Any, tries: Any, next_attempts: Mapping[int, datetime]) -> list[int]:
    """Count a try on each row and set its next attempt, then commit; the rows' own `updated_at` is kept."""
    table = model.__table__
    values: dict[str, Any] = {
        "next_attempt_at": sa.bindparam("next_at", type_=UTCDateTime()),
        tries.key: table.c[tries.key] + 1,
    }
    if "updated_at" in table.c:
        values["updated_at"] = table.c.updated_at  # bookkeeping, not a change to the row
    if next_attempts:
        statement = sa.update(table).where(table.c.id == sa.bindparam("row_id")).values(values)
        db.session.execute(statement, [{"row_id": key, "next_at": at} for key, at in next_attempts.items()])
    db.session.commit()
    return list(next_attempts)


def take_due(model: Any, tries: Any, condition: Any, size: int) -> list[int]:
    """Claim a batch of due rows: each one's next attempt is set forward by its backoff before any work."""
    now = utcnow()
    rows = due_rows(model, tries, condition, size)
    return defer(model, tries, {row[0]: now + backoff(row[1]) for row in rows})


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
