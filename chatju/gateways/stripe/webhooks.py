"""Stripe webhooks: verify the signature on the raw body; say what a stored event asks of the core.

https://docs.stripe.com/webhooks — `Stripe-Signature` is checked with the
endpoint secret and a 300 s tolerance before anything is stored. Events arrive
out of order and more than once; the core treats each as a nudge and applies
the PaymentIntent as Stripe shows it now.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import stripe

from chatju.gateways.port import Delivery, Dispute, Notice, WebhookRejectedError, kept_headers, rejected_unless
from chatju.gateways.stripe.mapping import to_refund
from chatju.validation import instant_from_unix, is_clean_text

TOLERANCE_SECONDS = 300
SIGNATURE = "Stripe-Signature"
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


def read(raw: bytes, headers: Mapping[str, str], secret: str) -> Delivery:
    """Verify, then recognise the event; WebhookRejectedError (nothing stored) when either fails."""
    verify(raw, headers.get(SIGNATURE), secret)
    body = _event(raw)
    obj = _object(body)
    _check(body, obj)
    order_id = (obj.get("metadata") or {}).get("order_id") if body["type"].startswith("payment_intent.") else None
    event_type = body["type"][:100]
    return Delivery(
        event_id=body["id"][:255],
        event_type=event_type,
        order_id=order_id if isinstance(order_id, str) and 0 < len(order_id) <= 64 else None,
        created_at=_created_at(body.get("created")),
        handled=event_type in HANDLED,
        body=_body_to_keep(raw, body),
        headers=kept_headers(headers, lambda name: name == SIGNATURE.lower()),
    )


def verify(raw: bytes, signature: str | None, secret: str) -> None:
    """Unless Stripe signed exactly these bytes within the tolerance: INVALID_SIGNATURE."""
    try:
        stripe.WebhookSignature.verify_header(raw.decode("utf-8"), signature, secret, tolerance=TOLERANCE_SECONDS)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, TypeError, ValueError):
        raise WebhookRejectedError("INVALID_SIGNATURE", "The Stripe-Signature header does not verify.") from None


def notice(event_type: str, stored_body: str) -> Notice:
    """payment_intent.* name the intent (and the order in metadata); charge.* and refunds the intent."""
    obj = _object(json.loads(stored_body or "{}"))
    if event_type in INTENT_EVENTS:
        intent_id, order_id = obj.get("id"), (obj.get("metadata") or {}).get("order_id")
        return Notice(
            order_id=order_id if isinstance(order_id, str) and 0 < len(order_id) <= 64 else None,
            reference=intent_id if isinstance(intent_id, str) and intent_id else None,
            reference_is_payment=True,
        )
    intent_id = obj.get("payment_intent")
    reference = intent_id if isinstance(intent_id, str) and intent_id else None
    if event_type in DISPUTE_EVENTS:
        dispute = Dispute(obj.get("id"), obj.get("reason"), obj.get("amount"), obj.get("status"))
        return Notice(reference=reference, dispute=dispute)
    return Notice(reference=reference, refunds=tuple(to_refund(item) for item in _refund_objects(event_type, obj)))


def _refund_objects(event_type: str, obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The refunds an event shows: the refund itself, or the charge's list where it still has one."""
    if event_type in REFUND_EVENTS:
        return [obj]
    return list((obj.get("refunds") or {}).get("data") or [])


def _event(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise WebhookRejectedError("VALIDATION_ERROR", "The webhook body is not valid JSON.") from None
    if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not isinstance(body.get("type"), str):
        raise WebhookRejectedError("VALIDATION_ERROR", "The webhook body is not a Stripe event.")
    return body


def _check(body: dict[str, Any], obj: dict[str, Any]) -> None:
    """The ids an event names are text (chatju.validation): they are stored and looked up."""
    named = [("id", body["id"]), ("type", body["type"]), *_object_ids(obj)]
    refunds = obj.get("refunds")
    listed = refunds.get("data") if isinstance(refunds, dict) else None
    for refund in listed if isinstance(listed, list) else []:
        named += _object_ids(refund) if isinstance(refund, dict) else []
    for name, value in named:
        rejected_unless(not isinstance(value, str) or is_clean_text(value), f"{name} holds control characters.")


def _object_ids(obj: dict[str, Any]) -> list[tuple[str, Any]]:
    found = obj.get("metadata")
    metadata: dict[str, Any] = found if isinstance(found, dict) else {}
    return [
        ("data.object.id", obj.get("id")),
        ("data.object.payment_intent", obj.get("payment_intent")),
        ("data.object.charge", obj.get("charge")),
        ("metadata.order_id", metadata.get("order_id")),
        ("metadata.refund_id", metadata.get("refund_id")),
    ]


def _created_at(created: Any) -> datetime | None:
    """The event's Unix time; one the service cannot represent is refused (nothing stored)."""
    if created is None:
        return None
    try:
        rejected_unless(isinstance(created, int), "created is not a Unix time.")
        return instant_from_unix(created)
    except ValueError:
        raise WebhookRejectedError("VALIDATION_ERROR", "created is not a representable time.") from None


def _body_to_keep(raw: bytes, body: dict[str, Any]) -> str:
    """The verified body as stored: an intent's client secret is a credential and is not kept."""
    obj = _object(body)
    if obj.get("client_secret"):
        obj["client_secret"] = "[redacted]"  # noqa: S105 (a placeholder, not a secret)
        kept = json.dumps(body, ensure_ascii=False)
        # A lone surrogate (escaped in the raw body) cannot be stored as text: then keep every escape.
        return kept if is_clean_text(kept) else json.dumps(body)
    return raw.decode("utf-8")


def _object(body: dict[str, Any]) -> dict[str, Any]:
    data = body.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    return obj if isinstance(obj, dict) else {}
