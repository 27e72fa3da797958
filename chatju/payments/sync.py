"""Re-fetching a payment from its gateway and applying what the gateway says.

Webhooks and reconciliation both end here: the gateway's current view is the
truth, never an event body. Syncs are coalesced per payment: under a per-payment
advisory lock, a sync that finds the payment already fetched after the event it
serves does nothing, so a burst of webhooks for one order costs one gateway call.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from chatju.db import utcnow
from chatju.extensions import db
from chatju.gateways.base import GatewayError, GatewayPayment
from chatju.gateways.clients import stripe_gateway, toss_client
from chatju.gateways.toss import NOT_FOUND_CODES
from chatju.payments import ledger
from chatju.payments.models import Payment
from chatju.payments.states import EventSource, LedgerKind, PaymentStatus, Provider, is_paid
from chatju.payments.transitions import apply_gateway_payment, clear_attempt, flag_review, lock_payment, mismatch

SYNC_LOCK_SPACE = 0x70A5 << 48  # keeps these advisory keys apart from any others


def sync_payment(payment_id: int, source: EventSource, newer_than: datetime | None = None) -> str:
    """Fetch the payment from its gateway and apply it; returns what happened, for the record."""
    take_sync_lock(payment_id)
    payment = db.session.get(Payment, payment_id, populate_existing=True)
    if payment is None:
        return "no such payment"
    if newer_than is not None and payment.synced_at is not None and payment.synced_at >= newer_than:
        return "coalesced"
    started = utcnow()
    seen = fetch_current(payment)
    payment = lock_payment(payment_id)
    payment.synced_at = started
    if seen is None:
        return "unknown at the gateway"
    if not relevant(payment, seen):
        return "older attempt"
    if payment.provider == Provider.STRIPE and payment.payment_intent_id is None and seen.reference:
        bind_intent(payment, seen, source)
    apply_gateway_payment(payment, seen, source)
    if payment.attempt_key is not None and seen.reference == payment.attempt_key and seen.target is not None:
        clear_attempt(payment)
    return "applied"


def fetch_current(payment: Payment) -> GatewayPayment | None:
    """The gateway's view of the payment, or None when the gateway has never heard of it."""
    if payment.provider == Provider.TOSS:
        try:
            return toss_client().fetch_by_order(payment.order_id)
        except GatewayError as error:
            if error.code in NOT_FOUND_CODES:
                return None  # the customer never reached the checkout
            raise
    gateway = stripe_gateway()
    if payment.payment_intent_id:
        return gateway.retrieve_intent(payment.payment_intent_id, payment.order_id)
    return gateway.find_intent(payment.order_id)


def bind_intent(payment: Payment, seen: GatewayPayment, source: EventSource) -> None:
    """Record the PaymentIntent made for this order (after checking it is this order's)."""
    problems = mismatch(payment, seen)
    if problems:
        flag_review(payment, source, "the PaymentIntent does not match the order", {"mismatch": problems})
        return
    payment.payment_intent_id = seen.reference
    if not is_paid(payment.status):
        payment.client_secret = seen.client_secret
    ledger.record(payment, LedgerKind.NOTE, source, reference=seen.reference, reason="payment intent created")


def relevant(payment: Payment, seen: GatewayPayment) -> bool:
    """Whether what the gateway reports concerns this payment's current attempt.

    A success always counts. A failed Toss payment counts only if it is the attempt we
    sent a confirm for: a checkout abandoned at Toss (EXPIRED) leaves the order PENDING.
    Anything else counts unless a newer attempt is in flight.
    """
    if seen.approved:
        return True
    if payment.provider == Provider.TOSS and seen.target == PaymentStatus.FAILED:
        return seen.reference == payment.attempt_key
    return payment.attempt_key is None or seen.reference == payment.attempt_key


def take_sync_lock(payment_id: int) -> None:
    """A transaction-scoped advisory lock per payment, held across the gateway fetch on purpose.

    Lock order everywhere: inbox row (webhook task) → this lock → the payment row. The
    payment row itself is locked only after the fetch, so confirms are never held up by
    a gateway call. PostgreSQL only; SQLite has no such locks (SPEC §2).
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(SYNC_LOCK_SPACE + payment_id)))
