"""The Stripe path: create an order and its PaymentIntent; webhooks do the rest.

The web side stores the order; a Celery task (`payments.create_stripe_intent`)
creates the intent with the idempotency key `create-{orderId}`.
"""

from __future__ import annotations

import logging
import random

from chatju.extensions import db
from chatju.gateways.base import GatewayError, GatewayRefusal
from chatju.gateways.clients import stripe_gateway
from chatju.gateways.stripe import MAXIMUM, MINIMUMS
from chatju.jobs import enqueue_after_commit
from chatju.payments import cancel, ledger, sync
from chatju.payments.models import Payment
from chatju.payments.service import create_order, price
from chatju.payments.states import EventSource, LedgerKind, PaymentStatus, Provider
from chatju.payments.transitions import Failure, lock_payment, move
from chatju.settings import current_settings

log = logging.getLogger(__name__)
CREATE_TASK = "payments.create_stripe_intent"
DEFAULT_DESCRIPTION = "ChatJu order"


def supported_currencies() -> frozenset[str]:
    return frozenset(MINIMUMS)


def create_stripe_order(
    user_id: int, amount: int | None, currency: str, description: str | None, product_id: str | None
) -> Payment:
    """Store a PENDING order; its PaymentIntent is created by a task once this commits."""
    amount, product_name = price(currency, amount, product_id, MINIMUMS[currency], default_max=MAXIMUM)
    payment = create_order(
        user_id, Provider.STRIPE, amount, currency, description or product_name or DEFAULT_DESCRIPTION
    )
    enqueue_after_commit(CREATE_TASK, (payment.id,))
    return payment


def intent_ready(payment: Payment) -> bool:
    return payment.payment_intent_id is not None or payment.status != PaymentStatus.PENDING


def run_create_intent(payment_id: int, retries_done: int) -> float | None:
    """Create the intent (once, by its key); returns a retry countdown while Stripe is unsure."""
    payment = db.session.get(Payment, payment_id)
    if payment is None or intent_ready(payment):
        return None
    try:
        seen = stripe_gateway().create_intent(
            payment.order_id, payment.user_id, payment.amount, payment.currency, payment.order_name
        )
    except GatewayError as error:
        return _create_failed(payment_id, error, retries_done)
    locked = lock_payment(payment_id)
    if locked.payment_intent_id is None:
        sync.bind_intent(locked, seen, EventSource.API)
        if locked.status in (PaymentStatus.CANCELED, PaymentStatus.EXPIRED):
            cancel.release_intent(locked)  # the order ended while its intent was being created
    if locked.payment_intent_id != seen.reference:
        log.error("intent does not match its order", extra={"order_id": locked.order_id, "intent": seen.reference})
    return None


def _create_failed(payment_id: int, error: GatewayError, retries_done: int) -> float | None:
    if isinstance(error, GatewayRefusal) or (not error.retryable and not error.replayed):
        payment = lock_payment(payment_id)
        move(payment, PaymentStatus.FAILED, EventSource.API, failure=Failure(error.code, error.message))
        return None
    settings = current_settings()
    if error.retryable and not error.replayed and retries_done < settings.gateway_max_retries:
        base = settings.gateway_retry_backoff_seconds
        return base * 2**retries_done + random.uniform(0, base)  # noqa: S311 (jitter)
    # Out of retries, or Stripe replayed a saved failure: the intent may exist all the same.
    outcome = sync.sync_payment(payment_id, EventSource.API)
    if outcome == "unknown at the gateway":
        payment = lock_payment(payment_id)
        ledger.record(
            payment, LedgerKind.NOTE, EventSource.API, reason="intent not created yet", detail={"code": error.code}
        )
    return None
