"""Starting a payment at the gateway, for gateways that make one per order (`starts_at_gateway`).

The web side stores the order; a Celery task (`payments.start`) creates the gateway
payment under a key stable for the order (Stripe: `create-{orderId}`), and webhooks
do the rest.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from chatju.db import utcnow
from chatju.extensions import db
from chatju.gateways.port import GatewayError, GatewayRefusal
from chatju.jobs import retry_countdown
from chatju.payments import cancel, ledger, sync
from chatju.payments.adapter import gateway_of, order_of
from chatju.payments.models import Payment
from chatju.payments.service import started
from chatju.payments.transitions import Failure, lock_payment, move
from chatju.settings import current_settings
from chatju.states import EventSource, LedgerKind, PaymentStatus

log = logging.getLogger(__name__)
# A gateway's lookup may lag its writes (Stripe's search: up to a minute): give a lost start this long.
SEARCH_GRACE = timedelta(minutes=10)


def run_start(payment_id: int, retries_done: int) -> float | None:
    """Create the gateway payment (once, by its key); returns a retry countdown while the gateway is unsure."""
    payment = db.session.get(Payment, payment_id)
    if payment is None or started(payment):
        return None
    gateway, order = gateway_of(payment), order_of(payment)
    try:
        seen = gateway.start(order)
    except GatewayError as error:
        return _start_failed(payment_id, error, retries_done)
    locked = lock_payment(payment_id)
    if locked.payment_intent_id is None:
        sync.bind_started(locked, seen, EventSource.API)
        if locked.status in (PaymentStatus.CANCELED, PaymentStatus.EXPIRED):
            cancel.release_at_gateway(locked)  # the order ended while its gateway payment was being made
    if locked.payment_intent_id != seen.reference:
        log.error("gateway payment does not match its order", extra={"order_id": locked.order_id})
    return None


def _start_failed(payment_id: int, error: GatewayError, retries_done: int) -> float | None:
    if isinstance(error, GatewayRefusal) or not error.retryable:
        _fail(payment_id, error)  # the gateway's definite answer (first time or replayed): the order cannot be paid
        return None
    if not error.replayed and retries_done < current_settings().gateway_max_retries:
        return retry_countdown(retries_done)
    # Out of retries, or a replayed saved 500: the gateway payment may exist all the same. The lookup
    # decides; until SEARCH_GRACE has passed, reconciliation sends the start again under the same key,
    # and only then is the order given up as FAILED.
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
