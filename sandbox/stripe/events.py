"""Stripe's snapshot events and their `Stripe-Signature` (reference §4, §5).

Each delivery attempt is signed anew with the time of the attempt:
`t=<unix>,v1=<hex HMAC-SHA256(secret as UTF-8, f"{t}.{raw body}")>`, followed by a
`v0=` entry as in Stripe's test mode (a scheme verifiers must ignore).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

from sandbox.stripe.objects import new_id, now
from sandbox.webhooks import Delivery, HeaderBuilder

API_VERSION = "2026-10-28.endive"  # stripe-python 16.1.0's pinned version
V0_KEY = b"sandbox-v0-scheme"  # test mode's extra, unverifiable signature

PAYMENT_INTENT_EVENTS = (
    "payment_intent.created", "payment_intent.succeeded", "payment_intent.payment_failed",
    "payment_intent.canceled", "payment_intent.processing", "payment_intent.requires_action",
    "payment_intent.amount_capturable_updated",
)  # fmt: skip
CHARGE_EVENTS = ("charge.succeeded", "charge.failed", "charge.refunded", "charge.updated", "charge.pending")
REFUND_EVENTS = ("refund.created", "refund.updated", "refund.failed", "charge.refund.updated")
DISPUTE_EVENTS = ("charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed",
                  "charge.dispute.funds_withdrawn")  # fmt: skip


@dataclass(frozen=True)
class Origin:
    """The API request that caused an event (`request` of the event; both None: automatic)."""

    request_id: str | None = None
    idempotency_key: str | None = None


AUTOMATIC = Origin()


def event(event_type: str, data_object: dict[str, Any], origin: Origin) -> dict[str, Any]:
    return {
        "id": new_id("evt_"),
        "object": "event",
        "api_version": API_VERSION,
        "created": now(),
        "data": {"object": data_object},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": origin.request_id, "idempotency_key": origin.idempotency_key},
        "type": event_type,
    }


def signature(body: bytes, secret: str, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + body
    v1 = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    v0 = hmac.new(V0_KEY, signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={v1},v0={v0}"


def delivery_headers(secret: str) -> HeaderBuilder:
    """The headers of each attempt, signed with `secret` at the time of the attempt."""

    def build(delivery: Delivery) -> dict[str, str]:
        return {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": signature(delivery.body, secret, int(time.time())),
        }

    return build


def delivered(status: int) -> bool:
    """Stripe counts any 2xx as delivered; 3xx, 4xx and 5xx are retried."""
    return 200 <= status < 300
