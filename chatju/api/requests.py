"""Request bodies of the payment routes, as pydantic models: validated once, at the edge."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, StringConstraints

from chatju.validation import BANK_CODES, ORDER_ID_PATTERN, account_number, bank_code, clean_text, holder_name

# Text from a client: no control characters (chatju.validation), whatever the field.
Text = AfterValidator(clean_text)
OrderId = Annotated[str, StringConstraints(pattern=f"^{ORDER_ID_PATTERN}$")]
OrderName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), Text]
ProductId = Annotated[str, StringConstraints(min_length=1, max_length=64), Text]
# A JSON integer: strict mode refuses 13000.0, "13000" and true.
Amount = Annotated[int, Field(gt=0, le=10**12)]
BANK_ENUM: list[JsonValue] = [*sorted(BANK_CODES)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class TossCreate(Strict):
    amount: Amount | None = None
    orderName: OrderName | None = None
    productId: ProductId | None = None


class StripeCreate(Strict):
    amount: Amount | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")] = "USD"
    description: OrderName | None = None
    productId: ProductId | None = None


class RefundAccount(Strict):
    """The customer's bank account, for refunds paid by transfer (Toss's refundReceiveAccount)."""

    bank: Annotated[str, AfterValidator(bank_code)] = Field(
        description="Toss's bank code: two digits, e.g. 88 (Shinhan)", json_schema_extra={"enum": BANK_ENUM}
    )
    accountNumber: Annotated[str, StringConstraints(max_length=40), AfterValidator(account_number)] = Field(
        description="6-20 digits; spaces and hyphens are dropped"
    )
    holderName: Annotated[str, StringConstraints(max_length=200), AfterValidator(holder_name)] = Field(
        description="The account holder's name, 1-60 characters"
    )


class RefundRequest(Strict):
    amount: Amount | None = None
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Text]
    # Required for a deposited virtual account, refused for every other method (400 VALIDATION_ERROR).
    refundReceiveAccount: RefundAccount | None = None


class TossConfirm(Strict):
    paymentKey: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+$")]
    orderId: OrderId
    amount: Amount
