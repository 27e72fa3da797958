"""Request bodies of the payment routes and the payment JSON every route returns."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chatju.payments.models import Payment
from chatju.timefmt import iso_utc

OrderId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{6,64}$")]
OrderName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
# A JSON integer: strict mode refuses 13000.0, "13000" and true.
Amount = Annotated[int, Field(gt=0, le=10**12)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class TossCreate(Strict):
    amount: Amount | None = None
    orderName: OrderName | None = None
    productId: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


class StripeCreate(Strict):
    amount: Amount | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")] = "USD"
    description: OrderName | None = None
    productId: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


class RefundRequest(Strict):
    amount: Amount | None = None
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class TossConfirm(Strict):
    paymentKey: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+$")]
    orderId: OrderId
    amount: Amount


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
