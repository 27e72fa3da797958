"""The Stripe path: create an order and its PaymentIntent; webhooks do the rest.

The web side stores the order; a Celery task (`payments.create_stripe_intent`)
creates the intent with the idempotency key `create-{orderId}`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from chatju.db import utcnow
from chatju.extensions import db
from chatju.gateways.base import GatewayError, GatewayRefusal
from chatju.gateways.clients import stripe_gateway
from chatju.gateways.stripe import MAXIMUM, MINIMUMS
from chatju.jobs import enqueue_after_commit, retry_countdown
from chatju.payments import cancel, ledger, sync
from chatju.payments.models import Payment
from chatju.payments.service import create_order, price
from chatju.payments.states import EventSource, LedgerKind, PaymentStatus, Provider
from chatju.payments.transitions import Failure, lock_payment, move
from chatju.settings import current_settings

log = logging.getLogger(__name__)
CREATE_TASK = "payments.create_stripe_intent"
SEARCH_GRACE = timedelta(minutes=10)
DEFAULT_DESCRIPTION = "ChatJu order"


def supported_currencies() -> frozenset[str]:
    """STRIPE_CURRENCIES, as far as Stripe's minimum charge is known for them."""
    return current_settings().stripe_currencies & frozenset(MINIMUMS)


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


def with_client_secret(body: dict[str, Any], status: int) -> tuple[dict[str, Any], int]:
    """A replayed create answer, with the client secret read from the order while it is unpaid."""
    if "clientSecret" in body and body.get("orderId"):
        payment = db.session.execute(sa.select(Payment).where(Payment.order_id == body["orderId"])).scalar_one_or_none()
        body = {**body, "clientSecret": payment.client_secret if payment is not None else None}
    return body, status


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
    if isinstance(error, GatewayRefusal) or not error.retryable:
        _fail(payment_id, error)  # Stripe's definite answer (first time or replayed): the order cannot be paid
        return None
    if not error.replayed and retries_done < current_settings().gateway_max_retries:
        return retry_countdown(retries_done)
    # Out of retries, or Stripe replayed a saved 500: the intent may exist all the same. Search
    # (which lags writes by up to a minute) decides; until SEARCH_GRACE has passed, reconciliation
    # sends the create again under the same key, and only then is the order given up as FAILED.
    if sync.sync_payment(payment_id, EventSource.API) != "unknown at the gateway":
        return None
    payment = lock_payment(payment_id)
    if payment.created_at < utcnow() - SEARCH_GRACE:
        _fail(payment_id, error)
    else:
        ledger.record(
            payment, LedgerKind.NOTE, EventSource.API, reason="intent not created yet", detail={"code": error.code}
        )
    return None


def _fail(payment_id: int, error: GatewayError) -> None:
    payment = lock_payment(payment_id)
    move(payment, PaymentStatus.FAILED, EventSource.API, failure=Failure(error.code, error.message))
