"""Outbox delivery."""

from __future__ import annotations

import logging
import random

from celery import Task

from chatju.extensions import db
from chatju.fulfilment import effects, outbox
from chatju.settings import current_settings
from chatju.webhooks.service import describe
from tasks import app

log = logging.getLogger(__name__)


@app.task(name="outbox.deliver", bind=True, max_retries=None)
def deliver(self: Task, item_id: int) -> bool:
    """Deliver one side effect; retried with backoff, then kept as failed for an operator."""
    try:
        return effects.deliver(item_id)
    except Exception as exc:
        db.session.rollback()
        settings = current_settings()
        if self.request.retries >= settings.gateway_max_retries:
            # Never given up: it stays pending, and the beat's re-drive tries it again later.
            outbox.record_failure(item_id, describe(exc), final=False)
            log.error("outbox item still failing; left for the re-drive", extra={"outbox_id": item_id})
            return False
        outbox.record_failure(item_id, describe(exc), final=False)
        base = max(settings.gateway_retry_backoff_seconds, 1)
        raise self.retry(countdown=base * 2**self.request.retries + random.uniform(0, base)) from exc  # noqa: S311
