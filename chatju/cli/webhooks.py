"""`flask --app wsgi webhooks ...`: the inbox, and re-driving what failed."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from chatju.db import utcnow
from chatju.extensions import db
from chatju.jobs import EnqueueError, TaskNames, send
from chatju.timefmt import iso_utc
from chatju.webhooks.models import InboxState, WebhookEvent

cli = AppGroup("webhooks", help="The webhook inbox.")


@cli.command("list")
@click.option("--failed", is_flag=True, help="Only events that exhausted their retries.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
def list_events(failed: bool, limit: int) -> None:
    """The newest inbox events."""
    query = sa.select(WebhookEvent).order_by(WebhookEvent.id.desc()).limit(limit)
    if failed:
        query = query.where(WebhookEvent.state == InboxState.FAILED)
    events = list(db.session.execute(query).scalars())
    if not events:
        click.echo("no events")
    for e in events:
        error = f"  error={e.last_error}" if e.last_error else ""
        click.echo(
            f"{e.id:>7}  {iso_utc(e.received_at)}  {e.provider:<6} {e.event_type or '-':<32} {e.state:<9} "
            f"order={e.order_id or '-'} tries={e.attempts} deliveries={e.deliveries} id={e.event_id}{error}"
        )


@cli.command("replay")
@click.argument("event_id", required=False)
@click.option("--failed", is_flag=True, help="Every event that exhausted its retries.")
def replay(event_id: str | None, failed: bool) -> None:
    """Process events again: EVENT_ID (our inbox id or the provider's event id), or --failed."""
    if (event_id is None) == (not failed):
        raise click.UsageError("give an EVENT_ID or --failed, not both")
    if failed:
        events = list(
            db.session.execute(sa.select(WebhookEvent).where(WebhookEvent.state == InboxState.FAILED)).scalars()
        )
    elif event_id is not None:
        match = WebhookEvent.event_id == event_id
        if event_id.isdigit():
            match = sa.or_(match, WebhookEvent.id == int(event_id))
        events = list(db.session.execute(sa.select(WebhookEvent).where(match)).scalars())
        if not events:
            raise click.ClickException(f"no event {event_id}")
    for event in events:
        event.state = InboxState.RECEIVED
        event.attempts, event.next_attempt_at = 0, utcnow()
    db.session.commit()
    try:
        for event in events:
            send(TaskNames.PROCESS_WEBHOOK, (event.id,))
    except EnqueueError:
        raise click.ClickException("the broker is unreachable; the events stay queued for the beat re-drive") from None
    click.echo(f"replaying {len(events)} event(s): " + ", ".join(str(e.id) for e in events))
