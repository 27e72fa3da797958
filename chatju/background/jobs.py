"""The periodic jobs (Celery beat, SPEC §6): reconcile, expire, re-drive, prune.

Each run takes its job's advisory lock (a second run at the same time does
nothing), works through one batch, and commits item by item, so one bad item
never holds back the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from chatju.auth.models import MagicLink
from chatju.background.locks import job_lock
from chatju.db import utcnow
from chatju.extensions import db
from chatju.fulfilment.models import OutboxItem, OutboxState
from chatju.gateways.models import GatewayCall
from chatju.idempotency.models import IdempotencyKey
from chatju.idempotency.service import KEY_TTL
from chatju.jobs import send
from chatju.payments import cancel, sync
from chatju.payments.models import Payment, Refund, RefundStatus
from chatju.payments.states import EventSource, PaymentStatus, Provider
from chatju.payments.stripe import CREATE_TASK
from chatju.payments.transitions import apply_gateway_payment, lock_payment
from chatju.settings import current_settings
from chatju.webhooks.models import InboxState, WebhookEvent
from chatju.webhooks.service import PROCESS_TASK

log = logging.getLogger(__name__)
BATCH = 100
Counts = dict[str, int]


def _each(ids: list[int], work: Callable[[int], object], counts: Counts, label: str) -> None:
    """Run `work` per id in its own transaction; a failure is logged and counted, not fatal."""
    for item_id in ids:
        try:
            work(item_id)
            db.session.commit()
            counts[label] = counts.get(label, 0) + 1
        except Exception:
            db.session.rollback()
            counts["errors"] = counts.get("errors", 0) + 1
            log.exception("background item failed", extra={"job": label, "id": item_id})


def reconcile(order_id: str | None = None) -> Counts:
    """Fetch what may be stuck and correct it through the state machine (`source=reconcile`)."""
    counts: Counts = {}
    with job_lock("reconcile") as held:
        if not held:
            return {"skipped": 1}
        _each(_stuck_payments(order_id), reconcile_payment, counts, "payments")
        _each(_refunds_in_flight(order_id), _resend_refund, counts, "refunds")
    return counts


def _stuck_payments(order_id: str | None) -> list[int]:
    query = sa.select(Payment.id)
    if order_id is not None:
        return list(db.session.execute(query.where(Payment.order_id == order_id)).scalars())
    cutoff = utcnow() - timedelta(seconds=current_settings().reconcile_after_seconds)
    stuck = sa.or_(
        Payment.status == PaymentStatus.PROCESSING,  # a confirm whose answer was lost; an async method
        sa.and_(Payment.provider == Provider.STRIPE, Payment.status == PaymentStatus.PENDING),  # no webhook came
    )
    query = query.where(stuck, Payment.updated_at < cutoff).order_by(Payment.updated_at).limit(BATCH)
    return list(db.session.execute(query).scalars())


def reconcile_payment(payment_id: int) -> str:
    """Apply the gateway's view. A Toss payment is never confirmed here: only fetched (SPEC §6)."""
    outcome = sync.sync_payment(payment_id, EventSource.RECONCILE)
    payment = db.session.get(Payment, payment_id)
    lost_create = payment is not None and payment.provider == Provider.STRIPE and payment.payment_intent_id is None
    if lost_create and payment.status == PaymentStatus.PENDING:
        send(CREATE_TASK, (payment_id,))  # its create was lost; the same key finds the same intent
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
    send("payments.refund", (refund_pk,))


def expire() -> Counts:
    """PENDING orders past PENDING_ORDER_TTL_SECONDS that the gateway does not report paid."""
    counts: Counts = {}
    with job_lock("expire") as held:
        if not held:
            return {"skipped": 1}
        cutoff = utcnow() - timedelta(seconds=current_settings().pending_order_ttl_seconds)
        ids = db.session.execute(
            sa.select(Payment.id)
            .where(Payment.status == PaymentStatus.PENDING, Payment.created_at < cutoff)
            .order_by(Payment.created_at)
            .limit(BATCH)
        ).scalars()
        _each(list(ids), expire_payment, counts, "expired")
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


def redrive() -> Counts:
    """Enqueue again what a lost task left behind: inbox events and outbox effects."""
    counts: Counts = {}
    with job_lock("redrive") as held:
        if not held:
            return {"skipped": 1}
        cutoff = utcnow() - timedelta(seconds=current_settings().reconcile_after_seconds)
        events = db.session.execute(
            sa.select(WebhookEvent.id)
            .where(WebhookEvent.state == InboxState.RECEIVED, WebhookEvent.received_at < cutoff)
            .order_by(WebhookEvent.received_at)
            .limit(BATCH)
        ).scalars()
        _each(list(events), lambda event_id: send(PROCESS_TASK, (event_id,)), counts, "events")
        items = db.session.execute(
            sa.select(OutboxItem.id)
            .where(OutboxItem.state == OutboxState.PENDING, OutboxItem.created_at < cutoff)
            .order_by(OutboxItem.created_at)
            .limit(BATCH)
        ).scalars()
        _each(list(items), lambda item_id: send("outbox.deliver", (item_id,)), counts, "effects")
    return counts


def prune() -> Counts:
    """Forget what is no longer needed; keep the rows whose existence is the record."""
    counts: Counts = {}
    with job_lock("prune") as held:
        if not held:
            return {"skipped": 1}
        now = utcnow()
        retention = now - timedelta(days=current_settings().retention_days)
        day_ago = now - timedelta(days=1)
        steps = [
            ("idempotency_keys", IdempotencyKey, IdempotencyKey.created_at < now - KEY_TTL, None),
            ("magic_links", MagicLink, sa.or_(MagicLink.used_at < day_ago, MagicLink.expires_at < day_ago), None),
            (
                "webhook_bodies",
                WebhookEvent,
                sa.and_(
                    WebhookEvent.received_at < retention,
                    WebhookEvent.body.is_not(None),
                    WebhookEvent.state.in_((InboxState.PROCESSED, InboxState.IGNORED)),  # failed ones may be replayed
                ),
                {"body": None, "headers": None},
            ),
            (
                "gateway_responses",
                GatewayCall,
                sa.and_(GatewayCall.created_at < retention, GatewayCall.response.is_not(None)),
                {"response": None},
            ),
        ]
        for name, model, condition, values in steps:
            counts[name] = _in_batches(model, condition, values)
    return counts


def _in_batches(model: type, condition: Any, values: dict[str, Any] | None, size: int = 1000) -> int:
    """Delete (or blank with `values`) the matching rows a batch at a time, each in its own commit."""
    done = 0
    while True:
        ids = sa.select(model.id).where(condition).limit(size).scalar_subquery()
        statement = sa.delete(model) if values is None else sa.update(model).values(**values)
        affected = db.session.execute(statement.where(model.id.in_(ids))).rowcount
        db.session.commit()
        done += affected
        if affected < size:
            return done
