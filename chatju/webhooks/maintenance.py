"""The inbox's periodic work: re-drive events a lost task left behind, forget old bodies."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from chatju.jobs import TaskNames, send
from chatju.periodic import Counts, each, in_batches, take_due
from chatju.webhooks.models import InboxState, WebhookEvent

BATCH = 100


def redrive(received_before: datetime, counts: Counts) -> None:
    """Enqueue again the due events still waiting for a worker since before `received_before`.

    Each one re-driven counts as a try and waits its backoff before the next (chatju.periodic).
    """
    waiting = sa.and_(WebhookEvent.state == InboxState.RECEIVED, WebhookEvent.received_at < received_before)
    events = take_due(WebhookEvent, WebhookEvent.attempts, waiting, BATCH)
    each(events, lambda event_id: send(TaskNames.PROCESS_WEBHOOK, (event_id,)), counts, "events")


def prune_bodies(received_before: datetime) -> int:
    """Blank the raw bodies and headers of finished events; failed ones keep theirs for a replay."""
    finished = sa.and_(
        WebhookEvent.received_at < received_before,
        WebhookEvent.body.is_not(None),
        WebhookEvent.state.in_((InboxState.PROCESSED, InboxState.IGNORED)),
    )
    return in_batches(WebhookEvent, finished, {"body": None, "headers": None})
