"""Payment gateway calls: thin tasks that load by id and call chatju services."""

from __future__ import annotations

from celery import Task
from sqlalchemy.exc import OperationalError

from chatju.jobs import retry_countdown
from chatju.payments import cancel, refunds, stripe, sync, toss
from chatju.payments.states import EventSource
from chatju.settings import current_settings
from tasks import app

# A database hiccup is retried too: acknowledged late, a task that just raises would be lost.
DB_RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": 2, "retry_backoff_max": 60, "retry_jitter": True}


@app.task(name="payments.confirm_toss", bind=True, max_retries=None, **DB_RETRY)
def confirm_toss(self: Task, payment_id: int, payment_key: str) -> None:
    """Confirm a Toss payment; retried with the same Idempotency-Key while Toss is unsure."""
    retry = toss.run_confirm(payment_id, payment_key, self.request.retries)
    if retry is not None:
        raise self.retry(countdown=retry.countdown)


@app.task(name="payments.sync", **DB_RETRY)
def sync_payment(payment_id: int) -> str:
    """Re-fetch a payment from its gateway and apply what the gateway reports."""
    return sync.sync_payment(payment_id, EventSource.RECONCILE)


@app.task(name="payments.create_stripe_intent", bind=True, max_retries=None, **DB_RETRY)
def create_stripe_intent(self: Task, payment_id: int) -> None:
    """Create the order's PaymentIntent; retried with the same idempotency key while Stripe is unsure."""
    countdown = stripe.run_create_intent(payment_id, self.request.retries)
    if countdown is not None:
        raise self.retry(countdown=countdown)


@app.task(name="payments.cancel_stripe_intent", bind=True, max_retries=None, **DB_RETRY)
def cancel_stripe_intent(self: Task, payment_id: int) -> None:
    """Cancel a canceled or expired order's PaymentIntent at Stripe (a late success still wins)."""
    if cancel.run_cancel_intent(payment_id) and self.request.retries < current_settings().gateway_max_retries:
        raise self.retry(countdown=retry_countdown(self.request.retries))


@app.task(name="payments.refund", bind=True, max_retries=None, **DB_RETRY)
def refund(self: Task, refund_pk: int) -> None:
    """Execute a reserved refund at the gateway, our refund id as the idempotency key."""
    countdown = refunds.run_refund(refund_pk, self.request.retries)
    if countdown is not None:
        raise self.retry(countdown=countdown)
