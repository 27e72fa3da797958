"""The inbox: store each delivery once, hand it to a worker, record how it ended."""

from __future__ import annotations

import functools
import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from chatju.db import table_of, utcnow
from chatju.extensions import db
from chatju.gateways.port import Delivery
from chatju.jobs import TaskNames, enqueue_after_commit
from chatju.observability import metrics
from chatju.webhooks.models import InboxState, WebhookEvent

log = logging.getLogger(__name__)
INSERTED_COLUMNS = (
    "provider",
    "event_id",
    "event_type",
    "order_id",
    "body",
    "headers",
    "state",
    "gateway_created_at",
    "received_at",
    "processed_at",
    "last_error",
)


def receive(provider: str, delivery: Delivery) -> None:
    """Store the delivery once; a worker gets it when this commits (the beat's re-drive if the broker is down)."""
    state = InboxState.RECEIVED if delivery.handled else InboxState.IGNORED
    event_id, _, stored = store(
        provider,
        delivery.event_id,
        delivery.event_type,
        delivery.order_id,
        delivery.body,
        delivery.headers,
        delivery.created_at,
        state,
    )
    if needs_processing(stored):
        # Nobody waits on its result: no result-channel subscription per publish, nothing stored.
        enqueue_after_commit(TaskNames.PROCESS_WEBHOOK, (event_id,), ignore_result=True)


def store(
    provider: str,
    event_id: str,
    event_type: str | None,
    order_id: str | None,
    body: str,
    headers: dict[str, str],
    gateway_created_at: datetime | None,
    state: InboxState = InboxState.RECEIVED,
) -> tuple[int, bool, InboxState]:
    """Insert the event unless it is already there; returns (inbox id, first delivery?, its state)."""
    table = table_of(WebhookEvent)
    ignored = state == InboxState.IGNORED
    now = utcnow()
    values = {
        "provider": provider,
        "event_id": event_id,
        "event_type": event_type,
        "order_id": order_id,
        "body": body,
        "headers": headers,
        "state": state,
        "gateway_created_at": gateway_created_at,
        "received_at": now,
        "processed_at": now if ignored else None,
        "last_error": "unknown event type" if ignored else None,
    }
    inserted = db.session.execute(insert_event(), values).scalar_one_or_none()
    metrics.count_stored(provider, event_type, inserted is not None, ignored)
    if inserted is not None:
        return inserted, True, state
    existing = db.session.execute(
        sa.update(table)
        .where(table.c.provider == provider, table.c.event_id == event_id)
        .values(deliveries=table.c.deliveries + 1)
        .returning(table.c.id, table.c.state)
    ).one()
    return existing.id, False, InboxState(existing.state)


@functools.cache
def insert_event() -> sa.TextualSelect:
    """The inbox's INSERT ... ON CONFLICT DO NOTHING RETURNING id, built once: the hot path only binds values.

    Written as text with typed parameters because SQLAlchemy cannot cache the compiled form of
    its PostgreSQL INSERT construct: built as a construct, it was compiled again for every
    delivery. PostgreSQL and SQLite (3.35 and later) both take this statement as it is.
    """
    table = table_of(WebhookEvent)
    names = ", ".join(INSERTED_COLUMNS)
    values = ", ".join(f":{name}" for name in INSERTED_COLUMNS)
    statement = sa.text(
        f"INSERT INTO {table.name} ({names}) VALUES ({values}) "  # noqa: S608 (our own column names)
        "ON CONFLICT (provider, event_id) DO NOTHING RETURNING id"
    )
    typed = [sa.bindparam(name, type_=table.c[name].type) for name in INSERTED_COLUMNS]
    return statement.bindparams(*typed).columns(table.c.id)


def needs_processing(state: InboxState) -> bool:
    """Enqueue on every delivery of an event not yet done: a repeat can rescue a lost task."""
    return state in (InboxState.RECEIVED, InboxState.FAILED)


def finish(event: WebhookEvent, state: InboxState, note: str | None = None) -> None:
    event.state = state
    event.processed_at = utcnow()
    event.last_error = note
    metrics.count_finished(event.provider, event.event_type, str(state), event.gateway_created_at)


def describe(exc: BaseException) -> str:
    """An error for the inbox row: the kind and the gateway's code, never SQL or parameters."""
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None) if code else None
    return f"{type(exc).__name__}: {code}: {message}" if code else type(exc).__name__


def record_failure(event_id: int, error: str, final: bool) -> None:
    """Count the attempt and keep the error, in its own transaction (the task's rolls back)."""
    with db.engine.begin() as conn:
        table = table_of(WebhookEvent)
        values: dict[str, Any] = {"attempts": table.c.attempts + 1, "last_error": error[:2000]}
        if final:
            values["state"] = InboxState.FAILED
        row = conn.execute(
            sa.update(table)
            .where(table.c.id == event_id)
            .values(**values)
            .returning(table.c.provider, table.c.event_type)
        ).one_or_none()
    if row is not None:
        metrics.count_failed(row.provider, row.event_type, final)
