"""The payment JSON every payment route returns (SPEC §4, Payment)."""

from __future__ import annotations

from typing import Any

from chatju.payments.models import Payment
from chatju.timefmt import iso_utc


def payment_json(payment: Payment, owner: bool = True) -> dict[str, Any]:
    """The payment as SPEC §4 shows it; `clientSecret` only to its owner, only while unpaid."""
    card = (
        {"brand": payment.card_brand, "last4": payment.card_last4} if payment.card_brand or payment.card_last4 else None
    )
    failure: dict[str, Any] | None = None
    if payment.failure_code:
        failure = {"code": payment.failure_code, "message": payment.failure_message or ""}
        if payment.failure_decline_code:
            failure["declineCode"] = payment.failure_decline_code
    return {
        "orderId": payment.order_id,
        "provider": str(payment.provider),
        "status": str(payment.status),
        "amount": payment.amount,
        "currency": payment.currency,
        "orderName": payment.order_name,
        "refundedAmount": payment.refunded_amount,
        "paymentKey": payment.payment_key,
        "paymentIntentId": payment.payment_intent_id,
        "clientSecret": payment.client_secret if owner else None,
        "method": payment.method,
        "card": card,
        "receiptUrl": payment.receipt_url,
        "failure": failure,
        "flags": payment.flags,
        "createdAt": iso_utc(payment.created_at),
        "updatedAt": iso_utc(payment.updated_at),
        "paidAt": iso_utc(payment.paid_at),
    }
