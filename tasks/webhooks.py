"""Inbox processing."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task

from chatju.extensions import db
from chatju.jobs import TaskNames, retry_countdown
from chatju.settings import current_settings
from chatju.webhooks import service
from chatju.webhooks.processing import process_event
from tasks import app

log = logging.getLogger(__name__)


@app.task(name=TaskNames.PROCESS_WEBHOOK, bind=True, max_retries=None)
def process(self: Task[Any, Any], event_id: int) -> str | None:
    """Process one stored event; on failure retry with backoff, then keep it as failed."""
    try:
        state = process_event(event_id)
    except Exception as exc:
        db.session.rollback()
        settings = current_settings()
        final = self.request.retries >= settings.gateway_max_retries
        service.record_failure(event_id, service.describe(exc), final)
        if final:
            log.error("webhook event failed for good", extra={"inbox_id": event_id})
            return "failed"
        raise self.retry(countdown=retry_countdown(self.request.retries)) from exc
    return str(state) if state else None
