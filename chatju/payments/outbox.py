"""Side effects of a status change, written with it and delivered exactly once.

A paid order grants its premium reading and sends a receipt; a full refund takes
the reading back. Each effect is one `outbox` row, unique per (payment, effect),
inserted in the same transaction as the status change; a task delivers it after
the commit, and the beat re-drives anything left pending. Confirm, webhook and
reconciliation completing one payment at once still make one row per effect.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from chatju.db import insert_for, table_of
from chatju.extensions import db
from chatju.jobs import TaskNames, enqueue_after_commit
from chatju.payments.models import Effect, OutboxItem, OutboxState

log = logging.getLogger(__name__)


def schedule(payment_id: int, *effects: Effect) -> None:
    """Queue the effects for this payment unless they already are (in the caller's transaction).

    One INSERT for all of them: a paid order's grant and receipt cost one round trip, not two.
    """
    table = table_of(OutboxItem)
    rows = [{"payment_id": payment_id, "effect": effect, "state": OutboxState.PENDING} for effect in effects]
    inserted = db.session.execute(
        insert_for(db.session, table)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["payment_id", "effect"])
        .returning(table.c.id, table.c.effect)
    ).all()
    ids = {Effect(row.effect): row.id for row in inserted}
    for effect in effects:  # in the order asked, whatever order RETURNING gives
        if effect in ids:
            enqueue_after_commit(TaskNames.DELIVER_EFFECT, (ids[effect],), ignore_result=True)


def claim(item_id: int) -> OutboxItem | None:
    """Lock a pending item; None when it is done or another worker holds it."""
    return db.session.execute(
        sa.select(OutboxItem)
        .where(OutboxItem.id == item_id, OutboxItem.state == OutboxState.PENDING)
        .with_for_update(skip_locked=True)
    ).scalar_one_or_none()


def record_failure(item_id: int, error: str) -> None:
    """Count the attempt in its own transaction (the task's rolls back); the item stays pending."""
    table = table_of(OutboxItem)
    with db.engine.begin() as conn:
        conn.execute(
            sa.update(table).where(table.c.id == item_id).values(attempts=table.c.attempts + 1, last_error=error[:2000])
        )
