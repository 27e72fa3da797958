"""Toss webhooks: recognising a delivery, and acting on it by asking Toss.

Payment webhooks are not signed (reference/toss.md §7). Nothing in a body is
trusted: the worker re-fetches the payment by its orderId and applies what Toss
answers, so a forged or stale body changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from chatju.errors import APIError
from chatju.extensions import db
from chatju.gateways.toss import parse_time
from chatju.payments import sync
from chatju.payments import toss as toss_payments
from chatju.payments.models import Payment
from chatju.payments.states import EventSource, Provider
from chatju.webhooks.models import InboxState, WebhookEvent

log = logging.getLogger(__name__)
HANDLED = frozenset({"PAYMENT_STATUS_CHANGED", "DEPOSIT_CALLBACK", "CANCEL_STATUS_CHANGED"})
TRANSMISSION_ID = "tosspayments-webhook-transmission-id"


@dataclass(frozen=True)
class Delivery:
    event_id: str
    event_type: str | None
    order_id: str | None
    created_at: datetime | None

    @property
    def handled(self) -> bool:
        return self.event_type in HANDLED


def parse(raw: bytes, transmission_id: str | None) -> Delivery:
    """Recognise the delivery; 400 when it is not a JSON object."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise APIError(400, "VALIDATION_ERROR", "The webhook body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise APIError(400, "VALIDATION_ERROR", "The webhook body must be a JSON object.")
    event_type = body.get("eventType")
    data = _data(body)
    if event_type is None and {"secret", "status", "orderId"} <= (body.keys() | data.keys()):
        event_type = "DEPOSIT_CALLBACK"  # flat, without eventType (reference/toss.md C2)
    order_id = data.get("orderId", body.get("orderId"))
    # Unsigned and without an event id: the transmission id with the body's hash is the key, so
    # a repeat of one delivery is stored once and a forger cannot take a real delivery's place.
    digest = hashlib.sha256(raw).hexdigest()
    event_id = f"{transmission_id[:150]}:{digest[:32]}" if transmission_id else f"sha256:{digest}"
    return Delivery(
        event_id=event_id[:255],
        event_type=str(event_type)[:100] if event_type is not None else None,
        order_id=order_id if isinstance(order_id, str) and 0 < len(order_id) <= 64 else None,
        created_at=parse_time(body.get("createdAt")),
    )


def process(event: WebhookEvent) -> tuple[InboxState, str]:
    """Act on one stored Toss event; returns how it ended and why."""
    if event.event_type not in HANDLED:
        return InboxState.IGNORED, "unhandled event type"
    body: dict[str, Any] = json.loads(event.body or "{}")
    payment = _find_payment(event, body)
    if payment is None:
        return InboxState.IGNORED, "no such order"
    if event.event_type == "DEPOSIT_CALLBACK" and toss_payments.deposit_secret_mismatch(payment, _secret(body)):
        log.warning("deposit callback with a wrong secret", extra={"order_id": payment.order_id, "inbox_id": event.id})
        return InboxState.IGNORED, "secret does not match"
    outcome = sync.sync_payment(payment.id, EventSource.WEBHOOK, newer_than=event.received_at)
    return InboxState.PROCESSED, outcome


def _data(body: dict[str, Any]) -> dict[str, Any]:
    data = body.get("data")
    return data if isinstance(data, dict) else {}


def _secret(body: dict[str, Any]) -> Any:
    """DEPOSIT_CALLBACK's secret: flat as documented, or inside `data` as some senders wrap it."""
    return body.get("secret", _data(body).get("secret"))


def _find_payment(event: WebhookEvent, body: dict[str, Any]) -> Payment | None:
    query = sa.select(Payment).where(Payment.provider == Provider.TOSS)
    if event.order_id:
        return db.session.execute(query.where(Payment.order_id == event.order_id)).scalar_one_or_none()
    payment_key = _data(body).get("paymentKey")
    if isinstance(payment_key, str) and payment_key:
        return db.session.execute(query.where(Payment.payment_key == payment_key)).scalar_one_or_none()
    return None
