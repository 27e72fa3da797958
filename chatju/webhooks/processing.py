"""Processing one inbox event in a worker: claim it, dispatch it, record the end."""

from __future__ import annotations

import sqlalchemy as sa

from chatju.extensions import db
from chatju.payments.states import Provider
from chatju.webhooks import service, stripe, toss
from chatju.webhooks.models import InboxState, WebhookEvent

OPEN_STATES = (InboxState.RECEIVED, InboxState.FAILED)


def process_event(event_id: int) -> InboxState | None:
    """Process the event unless it is done or another worker holds it; None when skipped."""
    event = db.session.execute(
        sa.select(WebhookEvent)
        .where(WebhookEvent.id == event_id, WebhookEvent.state.in_(OPEN_STATES))
        .with_for_update(skip_locked=True)
    ).scalar_one_or_none()
    if event is None:
        return None
    handler = toss.process if event.provider == Provider.TOSS else stripe.process
    state, note = handler(event)
    service.finish(event, state, None if state == InboxState.PROCESSED else note)
    return state
