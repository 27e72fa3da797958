"""The outbox's periodic work: re-drive effects a lost task left behind."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from chatju.extensions import db
from chatju.jobs import TaskNames, send
from chatju.payments.models import OutboxItem, OutboxState
from chatju.periodic import Counts, each

BATCH = 100


def redrive(created_before: datetime, counts: Counts) -> None:
    """Enqueue again the effects still pending since before `created_before`."""
    items = db.session.execute(
        sa.select(OutboxItem.id)
        .where(OutboxItem.state == OutboxState.PENDING, OutboxItem.created_at < created_before)
        .order_by(OutboxItem.created_at)
        .limit(BATCH)
    ).scalars()
    each(list(items), lambda item_id: send(TaskNames.DELIVER_EFFECT, (item_id,)), counts, "effects")
