"""Ending an unpaid order: the owner's cancel, and the expiry of abandoned orders.

Neither ever loses a payment: a gateway payment made when the order started is
canceled at the gateway by a task, and if the gateway answers that it succeeded
meanwhile, the payment is fetched and becomes PAID (CANCELED and EXPIRED may still
become PAID).
"""

from __future__ import annotations

import logging

from chatju.exceptions import invalid_state
from chatju.extensions import db
from chatju.gateways.port import GatewayError
from chatju.jobs import TaskNames, enqueue_after_commit
from chatju.payments import sync
from chatju.payments.adapter import gateway_of, order_of
from chatju.payments.models import Payment
from chatju.payments.service import owned_payment
from chatju.payments.transitions import lock_payment, move
from chatju.states import EventSource, PaymentStatus

log = logging.getLogger(__name__)


def cancel_order(user_id: int, order_id: str) -> Payment:
    """The owner cancels a PENDING order; anything else is 409 with the current status."""
    payment = owned_payment(user_id, order_id, lock=True)
    if payment.status != PaymentStatus.PENDING or payment.attempt_key is not None:
        raise invalid_state(f"A {payment.status} order cannot be canceled.", payment.status)
    end_unpaid(payment, PaymentStatus.CANCELED, EventSource.API, reason="canceled by the customer")
    return payment


def end_unpaid(payment: Payment, target: PaymentStatus, source: EventSource, reason: str) -> None:
    """Move a locked, unpaid order to CANCELED or EXPIRED; its gateway payment is canceled after commit."""
    move(payment, target, source, reason=reason)
    release_at_gateway(payment)


def release_at_gateway(payment: Payment) -> None:
    if payment.payment_intent_id is not None and gateway_of(payment).starts_at_gateway:
        enqueue_after_commit(TaskNames.CANCEL_AT_GATEWAY, (payment.id,))


def run_cancel_at_gateway(payment_id: int) -> bool:
    """Cancel the order's gateway payment; True when a retry may help."""
    payment = lock_payment(payment_id)
    if payment.payment_intent_id is None or payment.status not in (PaymentStatus.CANCELED, PaymentStatus.EXPIRED):
        return False
    gateway, order = gateway_of(payment), order_of(payment)
    db.session.rollback()
    try:
        gateway.cancel(order)
    except GatewayError as error:
        if error.retryable:
            return True
        # Most often the customer paid meanwhile (Stripe: payment_intent_unexpected_state). The gateway decides.
        log.info("gateway payment not canceled", extra={"order_id": order.order_id, "code": error.code})
        sync.sync_payment(payment_id, EventSource.RECONCILE)
    return False
