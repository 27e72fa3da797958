"""What every gateway client speaks: one error tree and a normalised payment view.

Gateway modules know the gateway's API and nothing of our tables; the service
layer turns these values into state changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chatju.payments.states import PaymentStatus, Provider


class GatewayError(Exception):
    """A gateway call that did not succeed; `retryable` says whether trying again can help."""

    retryable = False

    def __init__(
        self,
        code: str,
        message: str,
        http_status: int | None = None,
        *,
        decline_code: str | None = None,
        replayed: bool = False,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status
        self.decline_code = decline_code
        # The gateway answered from its idempotency store: retrying the same key cannot help.
        self.replayed = replayed


class TransientGatewayError(GatewayError):
    """Timeouts, dropped connections, 5xx, 429 and the gateway's own "try again" answers."""

    retryable = True


class GatewayRefusal(GatewayError):
    """The gateway refused the payment for a business reason (declined card, limits)."""


class GatewayRequestError(GatewayError):
    """Our request or configuration is wrong (bad key, invalid field): not the customer's doing."""


@dataclass(frozen=True)
class GatewayPayment:
    """The gateway's current view of one payment, in our terms."""

    provider: Provider
    reference: str  # Toss paymentKey, Stripe PaymentIntent id
    order_id: str | None
    gateway_status: str
    target: PaymentStatus | None  # what the gateway status means for us; None: nothing to apply
    amount: int
    currency: str
    refunded_amount: int = 0
    approved: bool = False  # the gateway took the money at some point
    method: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None
    receipt_url: str | None = None
    approved_at: datetime | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    failure_decline_code: str | None = None
    secret: str | None = field(default=None, repr=False)  # Toss's per-payment webhook secret
    client_secret: str | None = field(default=None, repr=False)  # Stripe's, for the customer's browser only
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)  # redacted


@dataclass(frozen=True)
class CallRecord:
    """One outbound call, for the audit trail (`gateway_calls`)."""

    provider: Provider
    operation: str
    order_id: str | None
    idempotency_key: str | None
    http_status: int | None
    duration_ms: int
    outcome: str  # ok, error, timeout, connection_error
    error_code: str | None
    response: Mapping[str, Any] | None


Recorder = Callable[[CallRecord], None]

# Keys whose values never leave the gateway client: secrets and personal data.
REDACTED_KEYS = frozenset(
    {
        "secret",
        "client_secret",
        "number",
        "accountNumber",
        "customerName",
        "depositorName",
        "holderName",
        "customerMobilePhone",
        "customerEmail",
        "issueNumber",
        "registrationNumber",
        "email",
        "name",
        "phone",
        "receipt_email",
        "address",
    }
)


def redact(value: Any) -> Any:
    """A copy of a gateway JSON value with secrets and personal data replaced."""
    if isinstance(value, Mapping):
        return {k: "[redacted]" if k in REDACTED_KEYS and v is not None else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value
