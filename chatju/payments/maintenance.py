"""The payments' periodic jobs (SPEC §6): reconcile what may be stuck, expire what was abandoned.

Each run takes its job's lock and commits item by item (chatju.periodic). Both take
only the payments whose `next_attempt_at` is due, soonest first, and set it forward
first: a payment neither settles waits longer each time, so it never holds the batch.
Reconcile and expire share a payment's backoff, and a PENDING payment never waits past
its expiry: then it is expire's to end.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from chatju.db import utcnow
from chatju.extensions import db
from chatju.gateways.registry import gateways
from chatju.jobs import TaskNames, send
from chatju.payments import cancel, sync
from chatju.payments.adapter import gateway_of
from chatju.payments.models import Payment, Refund, RefundStatus
from chatju.payments.transitions import apply_gateway_payment, lock_payment
from chatju.periodic import SKIPPED, Counts, backoff, defer, due_rows, each, job_lock, take_due
from chatju.settings import current_settings
from chatju.states import EventSource, PaymentStatus

BATCH = 100


def reconcile(order_id: str | None = None) -> Counts:
    """Fetch what may be stuck and correct it through the state machine (`source=reconcile`)."""
    counts: Counts = {}
    with job_lock("reconcile") as held:
        if not held:
            return dict(SKIPPED)
        each(_stuck_payments(order_id), reconcile_payment, counts, "payments")
        each(_refunds_in_flight(order_id), _resend_refund, counts, "refunds")
    return counts


def _stuck_payments(order_id: str | None) -> list[int]:
    if order_id is not None:  # asked for by name: now, whatever its backoff
        return list(db.session.execute(sa.select(Payment.id).where(Payment.order_id == order_id)).scalars())
    settled_before = Payment.updated_at < utcnow() - timedelta(seconds=current_settings().reconcile_after_seconds)
    # A confirm whose answer was lost; an async method. A batch per status, each on (status, next_attempt_at).
    processing = _take_due(sa.and_(Payment.status == PaymentStatus.PROCESSING, settled_before))
    # A PENDING order of a gateway that starts payments may have been paid without a webhook reaching us.
    starting = [adapter.name for adapter in gateways().all() if adapter.starts_at_gateway]
    pending = sa.and_(Payment.status == PaymentStatus.PENDING, Payment.provider.in_(starting), settled_before)
    return processing + (_take_due(pending) if starting else [])


def _take_due(condition: sa.ColumnElement[bool]) -> list[int]:
    """Claim a batch of due payments; a PENDING one's next attempt never falls after its expiry."""
    now = utcnow()
    rows = due_rows(Payment, Payment.job_attempts, condition, BATCH, Payment.status, Payment.created_at)
    return defer(Payment, Payment.job_attempts, {row.id: _next_attempt(row, now) for row in rows})


def _next_attempt(row: sa.Row[tuple[int, int, PaymentStatus, datetime]], now: datetime) -> datetime:
    later = now + backoff(row.job_attempts)
    if row.status != PaymentStatus.PENDING:
        return later
    expiry = row.created_at + timedelta(seconds=current_settings().pending_order_ttl_seconds)
    return min(later, expiry) if now < expiry else later


def reconcile_payment(payment_id: int) -> str:
    """Apply the gateway's view. A checkout is never confirmed here: only fetched (SPEC §6)."""
    outcome = sync.sync_payment(payment_id, EventSource.RECONCILE)
    payment = db.session.get(Payment, payment_id)
    if payment is None or payment.status != PaymentStatus.PENDING:
        return outcome
    if _expired(payment):
        payment.next_attempt_at = utcnow()  # unpaid past its time: expire's to end now, not after a backoff
    if payment.payment_intent_id is None and gateway_of(payment).starts_at_gateway:
        send(TaskNames.START, (payment_id,))  # its start was lost; the same key finds the same gateway payment
    return outcome


def _expired(payment: Payment) -> bool:
    return payment.created_at < utcnow() - timedelta(seconds=current_settings().pending_order_ttl_seconds)


def _refunds_in_flight(order_id: str | None) -> list[int]:
    in_flight = Refund.status == RefundStatus.PENDING
    if order_id is not None:
        query = sa.select(Refund.id).join(Payment, Payment.id == Refund.payment_id)
        return list(db.session.execute(query.where(in_flight, Payment.order_id == order_id)).scalars())
    cutoff = utcnow() - timedelta(seconds=current_settings().reconcile_after_seconds)
    return take_due(Refund, Refund.attempts, sa.and_(in_flight, Refund.updated_at < cutoff), BATCH)


def _resend_refund(refund_pk: int) -> None:
    """A refund still pending is asked again under the same key: the gateway answers as before."""
    send(TaskNames.REFUND, (refund_pk,))


def expire() -> Counts:
    """PENDING orders past PENDING_ORDER_TTL_SECONDS that the gateway does not report paid."""
    counts: Counts = {}
    with job_lock("expire") as held:
        if not held:
            return dict(SKIPPED)
        cutoff = utcnow() - timedelta(seconds=current_settings().pending_order_ttl_seconds)
        ids = _take_due(sa.and_(Payment.status == PaymentStatus.PENDING, Payment.created_at < cutoff))
        each(ids, expire_payment, counts, "expired")
    return counts


def expire_payment(payment_id: int) -> None:
    payment = db.session.get(Payment, payment_id)
    if payment is None:
        return
    seen = sync.fetch_current(payment)  # outside the row lock
    locked = lock_payment(payment_id)
    if locked.status != PaymentStatus.PENDING or locked.attempt_key is not None:
        return  # it moved on meanwhile
    if seen is not None and seen.approved:
        apply_gateway_payment(locked, seen, EventSource.RECONCILE)  # paid after all: never lost
        return
    cancel.end_unpaid(locked, PaymentStatus.EXPIRED, EventSource.RECONCILE, reason="not paid in time")
