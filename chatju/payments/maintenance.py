"""The payments' periodic jobs (SPEC §6): reconcile what may be stuck, expire what was abandoned.

Each run takes its job's lock and commits item by item (chatju.periodic).
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from chatju.db import utcnow
from chatju.extensions import db
from chatju.gateways.registry import gateways
from chatju.jobs import TaskNames, send
from chatju.payments import cancel, sync
from chatju.payments.adapter import gateway_of
from chatju.payments.models import Payment, Refund, RefundStatus
from chatju.payments.transitions import apply_gateway_payment, lock_payment
from chatju.periodic import SKIPPED, Counts, each, job_lock
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
    query = sa.select(Payment.id)
    if order_id is not None:
        return list(db.session.execute(query.where(Payment.order_id == order_id)).scalars())
    cutoff = utcnow() - timedelta(seconds=current_settings().reconcile_after_seconds)
    # A PENDING order of a gateway that starts payments may have been paid without a webhook reaching us.
    starting = [adapter.name for adapter in gateways().all() if adapter.starts_at_gateway]
    stuck = sa.or_(
        Payment.status == PaymentStatus.PROCESSING,  # a confirm whose answer was lost; an async method
        sa.and_(Payment.provider.in_(starting), Payment.status == PaymentStatus.PENDING),
    )
    query = query.where(stuck, Payment.updated_at < cutoff).order_by(Payment.updated_at).limit(BATCH)
    return list(db.session.execute(query).scalars())


def reconcile_payment(payment_id: int) -> str:
    """Apply the gateway's view. A checkout is never confirmed here: only fetched (SPEC §6)."""
    outcome = sync.sync_payment(payment_id, EventSource.RECONCILE)
    payment = db.session.get(Payment, payment_id)
    if payment is None or payment.status != PaymentStatus.PENDING or payment.payment_intent_id is not None:
        return outcome
    if gateway_of(payment).starts_at_gateway:
        send(TaskNames.START, (payment_id,))  # its start was lost; the same key finds the same gateway payment
    return outcome


def _refunds_in_flight(order_id: str | None) -> list[int]:
    cutoff = utcnow() - timedelta(seconds=current_settings().reconcile_after_seconds)
    query = sa.select(Refund.id).where(Refund.status == RefundStatus.PENDING)
    if order_id is not None:
        query = query.join(Payment, Payment.id == Refund.payment_id).where(Payment.order_id == order_id)
    else:
        query = query.where(Refund.updated_at < cutoff).order_by(Refund.updated_at).limit(BATCH)
    return list(db.session.execute(query).scalars())


def _resend_refund(refund_pk: int) -> None:
    """A refund still pending is asked again under the same key: the gateway answers as before."""
    db.session.execute(sa.update(Refund).where(Refund.id == refund_pk).values(updated_at=utcnow()))
    send(TaskNames.REFUND, (refund_pk,))


def expire() -> Counts:
    """PENDING orders past PENDING_ORDER_TTL_SECONDS that the gateway does not report paid."""
    counts: Counts = {}
    with job_lock("expire") as held:
        if not held:
            return dict(SKIPPED)
        cutoff = utcnow() - timedelta(seconds=current_settings().pending_order_ttl_seconds)
        ids = db.session.execute(
            sa.select(Payment.id)
            .where(Payment.status == PaymentStatus.PENDING, Payment.created_at < cutoff)
            .order_by(Payment.created_at)
            .limit(BATCH)
        ).scalars()
        each(list(ids), expire_payment, counts, "expired")
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
