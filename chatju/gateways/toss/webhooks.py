"""Toss webhooks: recognising a delivery, and what a stored one asks of the core.

Payment webhooks are not signed (reference/toss.md §7). Nothing in a body is
trusted: the core re-fetches the payment by its orderId and applies what Toss
answers, so a forged or stale body changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chatju.gateways.port import Delivery, Notice, WebhookRejectedError, kept_headers, rejected_unless
from chatju.gateways.toss.mapping import KST
from chatju.validation import instant_from_iso, is_clean_text

HANDLED = frozenset({"PAYMENT_STATUS_CHANGED", "DEPOSIT_CALLBACK", "CANCEL_STATUS_CHANGED"})
TRANSMISSION_ID = "tosspayments-webhook-transmission-id"


def read(raw: bytes, headers: Mapping[str, str]) -> Delivery:
    """Recognise the delivery; WebhookRejectedError when it is not a JSON object or breaks an input rule."""
    body = _object(raw)
    _check(body, headers)
    event_type = body.get("eventType")
    data = _data(body)
    if event_type is None and {"secret", "status", "orderId"} <= (body.keys() | data.keys()):
        event_type = "DEPOSIT_CALLBACK"  # flat, without eventType (reference/toss.md C2)
    order_id = _order_id(body)
    # Unsigned and without an event id: the transmission id with the body's hash is the key, so
    # a repeat of one delivery is stored once and a forger cannot take a real delivery's place.
    digest = hashlib.sha256(raw).hexdigest()
    transmission_id = headers.get(TRANSMISSION_ID)
    event_id = f"{transmission_id[:150]}:{digest[:32]}" if transmission_id else f"sha256:{digest}"
    kind = str(event_type)[:100] if event_type is not None else None
    return Delivery(
        event_id=event_id[:255],
        event_type=kind,
        order_id=order_id,
        created_at=_created_at(body.get("createdAt")),
        handled=kind in HANDLED,
        body=raw.decode("utf-8", errors="replace"),
        headers=kept_headers(headers, lambda name: name.startswith("tosspayments-")),
    )


def notice(event_type: str, stored_body: str) -> Notice:
    """The order (or, without one, the paymentKey) a stored event names; a deposit callback's secret."""
    body: dict[str, Any] = json.loads(stored_body or "{}")
    data = _data(body)
    order_id = _order_id(body)
    payment_key = data.get("paymentKey")
    callback = event_type == "DEPOSIT_CALLBACK"
    # DEPOSIT_CALLBACK's secret: flat as documented, or inside `data` as some senders wrap it.
    secret = body.get("secret", data.get("secret")) if callback else None
    return Notice(
        order_id=order_id,
        reference=payment_key if isinstance(payment_key, str) and payment_key and not order_id else None,
        secret=secret if isinstance(secret, str) else None,
        check_secret=callback,
    )


def _check(body: dict[str, Any], headers: Mapping[str, str]) -> None:
    """The identifiers the delivery names are text (chatju.validation): never stored or looked up otherwise."""
    data = _data(body)
    named = {
        "eventType": body.get("eventType"),
        "orderId": data.get("orderId", body.get("orderId")),
        "paymentKey": data.get("paymentKey"),
        "secret": body.get("secret", data.get("secret")),
        "status": data.get("status", body.get("status")),
        TRANSMISSION_ID: headers.get(TRANSMISSION_ID),
    }
    for name, value in named.items():
        rejected_unless(not isinstance(value, str) or is_clean_text(value), f"{name} holds control characters.")


def _created_at(value: Any) -> datetime | None:
    """Toss's createdAt has no zone and means Korean time; a time the service cannot represent is refused."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return instant_from_iso(value, KST)
    except ValueError:
        raise WebhookRejectedError("VALIDATION_ERROR", "createdAt is not a representable time.") from None


def _object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise WebhookRejectedError("VALIDATION_ERROR", "The webhook body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise WebhookRejectedError("VALIDATION_ERROR", "The webhook body must be a JSON object.")
    return body


def _order_id(body: dict[str, Any]) -> str | None:
    order_id = _data(body).get("orderId", body.get("orderId"))
    return order_id if isinstance(order_id, str) and 0 < len(order_id) <= 64 else None


def _data(body: dict[str, Any]) -> dict[str, Any]:
    data = body.get("data")
    return data if isinstance(data, dict) else {}
