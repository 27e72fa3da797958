"""Request bodies of the payment routes, as pydantic models: validated once, at the edge."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

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
