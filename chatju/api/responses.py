"""Response shapes, as pydantic models: the OpenAPI description is generated from these.

`extra="forbid"` makes the published schemas exact, so the schemathesis test
fails on any field a route adds or drops without saying so here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Exact(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(Exact):
    code: str
    message: str
    details: dict[str, Any] | None = None


class ErrorBody(Exact):
    error: ErrorDetail


class Status(Exact):
    status: str


class Readiness(Exact):
    status: Literal["ok", "unavailable"]
    checks: dict[str, Literal["ok", "fail"]]


class Product(Exact):
    id: str
    name: str
    prices: dict[str, int]


class Products(Exact):
    products: list[Product]


class User(Exact):
    id: int
    email: str
    displayName: str | None
    isAdmin: bool
    premiumReadings: int
    createdAt: str


class Tokens(Exact):
    access_token: str
    refresh_token: str
    user: User


class TokenPair(Exact):
    access_token: str
    refresh_token: str


class Card(Exact):
    brand: str | None
    last4: str | None


class Failure(Exact):
    code: str
    message: str
    declineCode: str | None = None


PaymentStatusName = Literal[
    "PENDING", "PROCESSING", "PAID", "FAILED", "CANCELED", "EXPIRED", "PARTIALLY_REFUNDED", "REFUNDED"
]


class Payment(Exact):
    orderId: str
    provider: str = Field(description="The gateway: toss or stripe")
    status: PaymentStatusName
    amount: int = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    orderName: str
    refundedAmount: int = Field(ge=0)
    paymentKey: str | None
    paymentIntentId: str | None
    clientSecret: str | None
    method: Literal["card", "virtual_account", "easy_pay", "transfer", "mobile"] | None
    card: Card | None
    receiptUrl: str | None
    failure: Failure | None
    flags: list[Literal["DISPUTED", "NEEDS_REVIEW"]]
    createdAt: str
    updatedAt: str
    paidAt: str | None


class TossOrder(Payment):
    clientKey: str
    customerKey: str
    successUrl: str
    failUrl: str


class StripeOrder(Payment):
    publishableKey: str


class PaymentPage(Exact):
    payments: list[Payment]
    nextCursor: str | None


class Refund(Exact):
    id: str
    amount: int
    status: Literal["pending", "succeeded", "failed"]


class RefundAccepted(Exact):
    payment: Payment
    refund: Refund


class Readings(Exact):
    premiumReadings: int
