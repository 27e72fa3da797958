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
from chatju.gateways.port import GatewayPayment
from chatju.payments import ledger
from chatju.payments.adapter import gateway_of, order_of
from chatju.payments.models import Payment, Refund, RefundStatus
from chatju.payments.transitions import apply_gateway_payment, clear_attempt, flag_review, lock_payment, mismatch
from chatju.states import EventSource, LedgerKind, PaymentStatus, is_paid

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
    if seen.refunded_amount > payment.refunded_amount and refund_in_flight(payment.id):
        return "refund in flight"  # its task applies it, recording who asked and why
    if gateway_of(payment).starts_at_gateway and payment.payment_intent_id is None and seen.reference:
        bind_started(payment, seen, source)
    apply_gateway_payment(payment, seen, source)
    if payment.attempt_key is not None and seen.reference == payment.attempt_key and seen.target is not None:
        clear_attempt(payment)
    return "applied"


def refund_in_flight(payment_id: int) -> bool:
    """Whether one of our refunds of this payment is still waiting for the gateway's answer."""
    pending = sa.select(Refund.id).where(Refund.payment_id == payment_id, Refund.status == RefundStatus.PENDING)
    return db.session.execute(pending.limit(1)).first() is not None


def fetch_current(payment: Payment) -> GatewayPayment | None:
    """The gateway's view of the payment, or None when the gateway has never heard of it."""
    return gateway_of(payment).fetch(order_of(payment))


def bind_started(payment: Payment, seen: GatewayPayment, source: EventSource) -> None:
    """Record the gateway payment made when this order started (after checking it is this order's)."""
    problems = mismatch(payment, seen)
    if problems:
        flag_review(payment, source, "the gateway payment does not match the order", {"mismatch": problems})
        return
    payment.payment_intent_id = seen.reference
    if not is_paid(payment.status):
        payment.client_secret = seen.client_secret
    ledger.record(payment, LedgerKind.NOTE, source, reference=seen.reference, reason="payment intent created")


def relevant(payment: Payment, seen: GatewayPayment) -> bool:
    """Whether what the gateway reports concerns this payment's current attempt.

    A success always counts. Where checkouts are confirmed by us, a failed payment counts
    only if it is the attempt we sent a confirm for: a checkout abandoned at the gateway
    leaves the order PENDING. Anything else counts unless a newer attempt is in flight.
    """
    if seen.approved:
        return True
    if gateway_of(payment).confirms and seen.target == PaymentStatus.FAILED:
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
