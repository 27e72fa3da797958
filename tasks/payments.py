"""Payment gateway calls: thin tasks that load by id and call chatju services."""

from __future__ import annotations

from celery import Task

from chatju.payments import stripe, sync, toss
from chatju.payments.states import EventSource
from tasks import app


@app.task(name="payments.confirm_toss", bind=True, max_retries=None)
def confirm_toss(self: Task, payment_id: int, payment_key: str) -> None:
    """Confirm a Toss payment; retried with the same Idempotency-Key while Toss is unsure."""
    retry = toss.run_confirm(payment_id, payment_key, self.request.retries)
    if retry is not None:
        raise self.retry(countdown=retry.countdown)


@app.task(name="payments.sync")
def sync_payment(payment_id: int) -> str:
    """Re-fetch a payment from its gateway and apply what the gateway reports."""
    return sync.sync_payment(payment_id, EventSource.RECONCILE)


@app.task(name="payments.create_stripe_intent", bind=True, max_retries=None)
def create_stripe_intent(self: Task, payment_id: int) -> None:
    """Create the order's PaymentIntent; retried with the same idempotency key while Stripe is unsure."""
    countdown = stripe.run_create_intent(payment_id, self.request.retries)
    if countdown is not None:
        raise self.retry(countdown=countdown)
