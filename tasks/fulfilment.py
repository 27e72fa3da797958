"""Outbox delivery."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task

from chatju.extensions import db
from chatju.fulfilment import effects
from chatju.jobs import TaskNames, retry_countdown
from chatju.payments import outbox
from chatju.settings import current_settings
from chatju.webhooks.service import describe
from tasks import app

log = logging.getLogger(__name__)


@app.task(name=TaskNames.DELIVER_EFFECT, bind=True, max_retries=None)
def deliver(self: Task[Any, Any], item_id: int) -> bool:
    """Deliver one side effect; retried with backoff, and never given up: it stays pending for the re-drive."""
    try:
        return effects.deliver(item_id)
    except Exception as exc:
        db.session.rollback()
        outbox.record_failure(item_id, describe(exc))
        if self.request.retries >= current_settings().gateway_max_retries:
            log.error("outbox item still failing; left for the re-drive", extra={"outbox_id": item_id})
            return False
        raise self.retry(countdown=retry_countdown(self.request.retries, at_least=1)) from exc
