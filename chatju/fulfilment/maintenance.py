"""The outbox's periodic work: re-drive effects a lost task left behind."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from chatju.jobs import TaskNames, send
from chatju.payments.models import OutboxItem, OutboxState
from chatju.periodic import Counts, each, take_due

BATCH = 100


def redrive(created_before: datetime, counts: Counts) -> None:
    """Enqueue again the due effects still pending since before `created_before`.

    Each one re-driven counts as a try and waits its backoff before the next (chatju.periodic).
    """
    pending = sa.and_(OutboxItem.state == OutboxState.PENDING, OutboxItem.created_at < created_before)
    items = take_due(OutboxItem, OutboxItem.attempts, pending, BATCH)
    each(items, lambda item_id: send(TaskNames.DELIVER_EFFECT, (item_id,)), counts, "effects")
