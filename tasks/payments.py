"""Payment gateway calls: thin tasks that load by id and call chatju services."""

from __future__ import annotations

from celery import Task

from chatju.payments import toss
from chatju.payments.states import EventSource
from tasks import app


@app.task(name="payments.confirm_toss", bind=True, max_retries=None)
def confirm_toss(self: Task, payment_id: int, payment_key: str) -> None:
    """Confirm a Toss payment; retried with the same Idempotency-Key while Toss is unsure."""
    retry = toss.run_confirm(payment_id, payment_key, self.request.retries)
    if retry is not None:
        raise self.retry(countdown=retry.countdown)


@app.task(name="payments.sync_toss")
def sync_toss(payment_id: int) -> str:
    """Re-fetch a Toss payment and apply what Toss reports."""
    return toss.sync_payment(payment_id, EventSource.RECONCILE)
