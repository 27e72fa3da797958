"""A PaymentIntent and its refunds in the port's terms (https://docs.stripe.com/api/payment_intents/object)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from stripe.params import PaymentIntentCreateParams

from chatju.gateways.port import GatewayPayment, GatewayRefund
from chatju.gateways.redaction import redactor
from chatju.states import PaymentStatus
from chatju.validation import instant_from_unix

METHODS = {"card": "card"}
# Secrets and personal data in Stripe's answers: never kept, never logged.
REDACTED_KEYS = frozenset({"client_secret", "number", "receipt_email"})
redact = redactor(REDACTED_KEYS)


def intent_params(
    order_id: str, user_id: int, amount: int, currency: str, description: str
) -> PaymentIntentCreateParams:
    """The create parameters: minor units as Stripe counts them (whole yen and won), lowercase currency."""
    return {
        "amount": amount,
        "currency": currency.lower(),
        "automatic_payment_methods": {"enabled": True},
        "metadata": {"order_id": order_id, "user_id": str(user_id)},
        "description": description,
    }


def to_refund(item: dict[str, Any]) -> GatewayRefund:
    """A Refund object; ours carry our refund id in metadata."""
    ours = (item.get("metadata") or {}).get("refund_id")
    return GatewayRefund(
        gateway_refund_id=str(item.get("id") or ""),
        amount=int(item.get("amount") or 0),
        refund_id=ours if isinstance(ours, str) and ours else None,
        settled=item.get("status") in ("succeeded", "pending"),
    )


def to_payment(intent: dict[str, Any]) -> GatewayPayment:
    """A PaymentIntent (with `latest_charge` expanded when available) in our terms."""
    status = str(intent.get("status") or "")
    amount = int(intent.get("amount") or 0)
    latest = intent.get("latest_charge")
    charge: dict[str, Any] = latest if isinstance(latest, dict) else {}
    refunded = int(charge.get("amount_refunded") or 0) if status == "succeeded" else 0
    error = intent.get("last_payment_error") or {}
    details = charge.get("payment_method_details") or {}
    card = details.get("card") or {}
    return GatewayPayment(
        reference=str(intent.get("id") or ""),
        order_id=(intent.get("metadata") or {}).get("order_id"),
        gateway_status=status,
        target=target_status(status, bool(error), refunded, amount),
        amount=amount,
        currency=str(intent.get("currency") or "").upper(),
        refunded_amount=refunded,
        approved=status == "succeeded",
        method=METHODS.get(details.get("type") or ""),
        card_brand=card.get("brand"),
        card_last4=card.get("last4"),
        receipt_url=charge.get("receipt_url"),
        approved_at=unix_time(charge.get("created")) if status == "succeeded" else None,
        failure_code=error.get("code"),
        failure_message=error.get("message"),
        failure_decline_code=error.get("decline_code"),
        client_secret=intent.get("client_secret"),
        raw=redact(intent),
    )


def target_status(status: str, failed_attempt: bool, refunded: int, amount: int) -> PaymentStatus | None:
    """What a PaymentIntent status means for our order (None: nothing to apply yet)."""
    match status:
        case "succeeded":
            if refunded >= amount > 0:
                return PaymentStatus.REFUNDED
            return PaymentStatus.PARTIALLY_REFUNDED if refunded else PaymentStatus.PAID
        case "processing":
            return PaymentStatus.PROCESSING
        case "canceled":
            return PaymentStatus.CANCELED
        case "requires_payment_method" if failed_attempt:
            # Back here after a declined attempt; FAILED until a later success.
            return PaymentStatus.FAILED
        case _:
            return None  # waiting for the customer (requires_payment_method, requires_action, ...)


def unix_time(value: Any) -> datetime | None:
    """A Unix time in a Stripe answer; None when absent or outside what the service can represent."""
    if not isinstance(value, int) or not value:
        return None
    try:
        return instant_from_unix(value)
    except ValueError:
        return None
