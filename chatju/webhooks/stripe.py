"""Stripe webhooks: verify the signature on the raw body, then act through a re-fetch.

https://docs.stripe.com/webhooks — `Stripe-Signature` is checked with the
endpoint secret and a 300 s tolerance before anything is stored. Events arrive
out of order and more than once; the worker treats each as a nudge and applies
the PaymentIntent as Stripe shows it now.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import stripe

from chatju.errors import APIError
from chatju.extensions import db
from chatju.observability import metrics
from chatju.payments import ledger, refunds, sync
from chatju.payments.models import Payment
from chatju.payments.states import EventSource, LedgerKind, Provider
from chatju.payments.transitions import flag_review, lock_payment
from chatju.webhooks.models import InboxState, WebhookEvent

log = logging.getLogger(__name__)
TOLERANCE_SECONDS = 300
INTENT_EVENTS = frozenset(
    {
        "payment_intent.succeeded",
        "payment_intent.processing",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
    }
)
CHARGE_EVENTS = frozenset({"charge.refunded"})
# Charges no longer carry their refunds (API 2022-11-15 on); refund events carry each one.
REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "charge.refund.updated"})
DISPUTE_EVENTS = frozenset({"charge.dispute.created"})
HANDLED = INTENT_EVENTS | CHARGE_EVENTS | REFUND_EVENTS | DISPUTE_EVENTS


class NotReadyError(Exception):
    """The event is for an intent whose create has not committed its id yet: retry later."""


@dataclass(frozen=True)
class Delivery:
    event_id: str
    event_type: str
    order_id: str | None
    created_at: datetime | None

    @property
    def handled(self) -> bool:
        return self.event_type in HANDLED


def verify(raw: bytes, signature: str | None, secret: str) -> None:
    """400 INVALID_SIGNATURE unless Stripe signed exactly these bytes within the tolerance."""
    try:
        stripe.WebhookSignature.verify_header(raw.decode("utf-8"), signature, secret, tolerance=TOLERANCE_SECONDS)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, TypeError, ValueError):
        metrics.count_signature_failure(Provider.STRIPE)
        raise APIError(400, "INVALID_SIGNATURE", "The Stripe-Signature header does not verify.") from None


def parse(raw: bytes) -> Delivery:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise APIError(400, "VALIDATION_ERROR", "The webhook body is not valid JSON.") from None
    if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not isinstance(body.get("type"), str):
        raise APIError(400, "VALIDATION_ERROR", "The webhook body is not a Stripe event.")
    obj = _object(body)
    order_id = (obj.get("metadata") or {}).get("order_id") if body["type"].startswith("payment_intent.") else None
    created = body.get("created")
    return Delivery(
        event_id=body["id"][:255],
        event_type=body["type"][:100],
        order_id=order_id if isinstance(order_id, str) and 0 < len(order_id) <= 64 else None,
        created_at=datetime.fromtimestamp(created, UTC) if isinstance(created, int) else None,
    )


def body_to_keep(raw: bytes) -> str:
    """The verified body as stored: an intent's client secret is a credential and is not kept."""
    body = json.loads(raw)
    obj = _object(body)
    if obj.get("client_secret"):
        obj["client_secret"] = "[redacted]"  # noqa: S105 (a placeholder, not a secret)
        return json.dumps(body, ensure_ascii=False)
    return raw.decode("utf-8")


def _object(body: dict[str, Any]) -> dict[str, Any]:
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    obj = data.get("object")
    return obj if isinstance(obj, dict) else {}


def process(event: WebhookEvent) -> tuple[InboxState, str]:
    """Act on one stored Stripe event; returns how it ended and why."""
    if event.event_type not in HANDLED:
        return InboxState.IGNORED, "unhandled event type"
    obj = _object(json.loads(event.body or "{}"))
    payment = _find_payment(event, obj)
    if payment is None:
        return InboxState.IGNORED, "no order for this payment intent"
    if event.event_type in DISPUTE_EVENTS:
        _flag_dispute(payment.id, obj)
        return InboxState.PROCESSED, "disputed"
    if event.event_type in CHARGE_EVENTS | REFUND_EVENTS:
        sync.take_sync_lock(payment.id)  # lock order: sync lock, then the payment row
        refunds.import_stripe_refunds(lock_payment(payment.id), _refund_objects(event.event_type, obj))
    return InboxState.PROCESSED, sync.sync_payment(payment.id, EventSource.WEBHOOK, newer_than=event.received_at)


def _find_payment(event: WebhookEvent, obj: dict[str, Any]) -> Payment | None:
    """payment_intent.* by metadata.order_id (and the stored intent id); charge.* by payment_intent."""
    query = sa.select(Payment).where(Payment.provider == Provider.STRIPE)
    if event.event_type in INTENT_EVENTS:
        intent_id = obj.get("id")
        if isinstance(intent_id, str) and intent_id:
            known = db.session.execute(query.where(Payment.payment_intent_id == intent_id)).scalar_one_or_none()
            if known is not None:
                return known
        if not event.order_id:
            return None
        payment = db.session.execute(query.where(Payment.order_id == event.order_id)).scalar_one_or_none()
        if payment is None:
            return None
        if payment.payment_intent_id is None:
            raise NotReadyError(f"intent of {payment.order_id} not stored yet")
        # Another intent names this order: if it took money, a person must sort it out.
        flag_review(
            lock_payment(payment.id),
            EventSource.WEBHOOK,
            "another PaymentIntent names this order",
            {"intent": intent_id, "status": obj.get("status"), "amount": obj.get("amount")},
        )
        return None
    intent_id = obj.get("payment_intent")
    if not isinstance(intent_id, str):
        return None
    return db.session.execute(query.where(Payment.payment_intent_id == intent_id)).scalar_one_or_none()


def _refund_objects(event_type: str, obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The refunds an event shows: the refund itself, or the charge's list where it still has one."""
    if event_type in REFUND_EVENTS:
        return [obj]
    return list((obj.get("refunds") or {}).get("data") or [])


def _flag_dispute(payment_id: int, dispute: dict[str, Any]) -> None:
    payment = lock_payment(payment_id)
    if payment.disputed:
        return
    payment.disputed = True
    ledger.record(
        payment,
        LedgerKind.FLAG,
        EventSource.WEBHOOK,
        reference=dispute.get("id"),
        reason=f"dispute opened: {dispute.get('reason')}",
        detail={"flag": "DISPUTED", "amount": dispute.get("amount"), "status": dispute.get("status")},
    )
