"""Ending an unpaid order: the owner's cancel, and the expiry of abandoned orders.

Neither ever loses a payment: a Stripe intent is canceled at Stripe by a task,
and if Stripe answers that it succeeded meanwhile, the payment is fetched and
becomes PAID (CANCELED and EXPIRED may still become PAID).
"""

from __future__ import annotations

import logging

from chatju.errors import APIError
from chatju.extensions import db
from chatju.gateways.base import GatewayError
from chatju.gateways.clients import stripe_gateway
from chatju.jobs import enqueue_after_commit
from chatju.payments import sync
from chatju.payments.models import Payment
from chatju.payments.service import owned_payment
from chatju.payments.states import EventSource, PaymentStatus, Provider
from chatju.payments.transitions import lock_payment, move

log = logging.getLogger(__name__)
CANCEL_INTENT_TASK = "payments.cancel_stripe_intent"


def cancel_order(user_id: int, order_id: str) -> Payment:
    """The owner cancels a PENDING order; anything else is 409 with the current status."""
    payment = owned_payment(user_id, order_id, lock=True)
    if payment.status != PaymentStatus.PENDING or payment.attempt_key is not None:
        raise APIError(
            409, "INVALID_STATE", f"A {payment.status} order cannot be canceled.", {"status": str(payment.status)}
        )
    end_unpaid(payment, PaymentStatus.CANCELED, EventSource.API, reason="canceled by the customer")
    return payment


def end_unpaid(payment: Payment, target: PaymentStatus, source: EventSource, reason: str) -> None:
    """Move a locked, unpaid order to CANCELED or EXPIRED; its Stripe intent is canceled after commit."""
    move(payment, target, source, reason=reason)
    release_intent(payment)


def release_intent(payment: Payment) -> None:
    if payment.provider == Provider.STRIPE and payment.payment_intent_id is not None:
        enqueue_after_commit(CANCEL_INTENT_TASK, (payment.id,))


def run_cancel_intent(payment_id: int) -> bool:
    """Cancel the order's intent at Stripe; True when a retry may help."""
    payment = lock_payment(payment_id)
    if payment.payment_intent_id is None or payment.status not in (PaymentStatus.CANCELED, PaymentStatus.EXPIRED):
        return False
    intent, order_id = payment.payment_intent_id, payment.order_id
    db.session.rollback()
    try:
        stripe_gateway().cancel_intent(intent, order_id)
    except GatewayError as error:
        if error.retryable:
            return True
        # Most often payment_intent_unexpected_state: the customer paid meanwhile. Stripe decides.
        log.info("intent not canceled", extra={"order_id": order_id, "code": error.code})
        sync.sync_payment(payment_id, EventSource.RECONCILE)
    return False
