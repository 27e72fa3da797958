"""Processing one inbox event in a worker: claim it, ask its gateway what it means, act, record the end.

Whatever the gateway, an event is a nudge: the core finds the payment it names, checks
what the adapter says must be checked, and applies the payment as the gateway shows it
now (chatju.payments.sync), never as the body says.
"""

from __future__ import annotations

import hmac
import logging

import sqlalchemy as sa

from chatju.extensions import db
from chatju.gateways.port import Dispute, Notice
from chatju.gateways.registry import gateway
from chatju.payments import ledger, refunds, sync
from chatju.payments.models import Payment
from chatju.payments.transitions import flag_review, lock_payment
from chatju.states import EventSource, LedgerKind
from chatju.webhooks import service
from chatju.webhooks.models import InboxState, WebhookEvent

log = logging.getLogger(__name__)
OPEN_STATES = (InboxState.RECEIVED, InboxState.FAILED)


class NotReadyError(Exception):
    """The event names an order whose gateway payment is not stored yet: retry later, never drop."""


def process_event(event_id: int) -> InboxState | None:
    """Process the event unless it is done or another worker holds it; None when skipped."""
    event = db.session.execute(
        sa.select(WebhookEvent)
        .where(WebhookEvent.id == event_id, WebhookEvent.state.in_(OPEN_STATES))
        .with_for_update(skip_locked=True)
    ).scalar_one_or_none()
    if event is None:
        return None
    state, note = handle(event)
    service.finish(event, state, None if state == InboxState.PROCESSED else note)
    return state


def handle(event: WebhookEvent) -> tuple[InboxState, str]:
    """Act on one stored event; returns how it ended and why."""
    adapter = gateway(event.provider)
    if event.event_type is None or event.event_type not in adapter.handled_events:
        return InboxState.IGNORED, "unhandled event type"
    notice = adapter.notice(event.event_type, event.body or "{}")
    payment = find_payment(event, notice)
    if payment is None:
        return InboxState.IGNORED, "no such order"
    if notice.check_secret and secret_mismatch(payment, notice.secret):
        log.warning("callback with a wrong secret", extra={"order_id": payment.order_id, "inbox_id": event.id})
        return InboxState.IGNORED, "secret does not match"
    if notice.dispute is not None:
        flag_dispute(payment.id, notice.dispute)
        return InboxState.PROCESSED, "disputed"
    if notice.refunds:
        sync.take_sync_lock(payment.id)  # lock order: sync lock, then the payment row
        refunds.import_refunds(lock_payment(payment.id), notice.refunds)
    return InboxState.PROCESSED, sync.sync_payment(payment.id, EventSource.WEBHOOK, newer_than=event.received_at)


def find_payment(event: WebhookEvent, notice: Notice) -> Payment | None:
    """By the gateway payment the event is about, else by the order it names."""
    query = sa.select(Payment).where(Payment.provider == event.provider)
    if notice.reference:
        by_reference = sa.or_(Payment.payment_intent_id == notice.reference, Payment.payment_key == notice.reference)
        known = db.session.execute(query.where(by_reference)).scalar_one_or_none()
        if known is not None or not notice.reference_is_payment:
            return known
    order_id = event.order_id or notice.order_id
    if not order_id:
        return None
    payment = db.session.execute(query.where(Payment.order_id == order_id)).scalar_one_or_none()
    if payment is None or not notice.reference_is_payment or not notice.reference:
        return payment
    if payment.payment_intent_id is None and payment.payment_key is None:
        raise NotReadyError(f"the gateway payment of {payment.order_id} is not stored yet")
    # Another gateway payment names this order: if it took money, a person must sort it out.
    flag_review(
        lock_payment(payment.id),
        EventSource.WEBHOOK,
        "another gateway payment names this order",
        {"reference": notice.reference, "event": event.event_id},
    )
    return None


def secret_mismatch(payment: Payment, secret: str | None) -> bool:
    """A callback carries the secret the gateway gave us with the payment; a different one is forged.

    An unknown stored secret (the confirm answer was lost) is not held against the callback:
    the worker re-fetches from the gateway either way.
    """
    if not payment.gateway_secret:
        return False
    return secret is None or not hmac.compare_digest(secret.encode(), payment.gateway_secret.encode())


def flag_dispute(payment_id: int, dispute: Dispute) -> None:
    payment = lock_payment(payment_id)
    if payment.disputed:
        return
    payment.disputed = True
    ledger.record(
        payment,
        LedgerKind.FLAG,
        EventSource.WEBHOOK,
        reference=dispute.dispute_id,
        reason=f"dispute opened: {dispute.reason}",
        detail={"flag": "DISPUTED", "amount": dispute.amount, "status": dispute.status},
    )
