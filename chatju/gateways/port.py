"""The gateway port: everything the core asks of a payment gateway, and the values it speaks.

The core (payments, webhooks, fulfilment, jobs) holds a `Gateway` from the registry
and calls these methods; it never names a provider. Each adapter (`gateways/toss/`,
`gateways/stripe/`) maps its gateway's API to these dataclasses and errors and
knows nothing of our tables.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from chatju.states import PaymentStatus

# How long opening a connection to a gateway may take (the read timeout is a setting).
CONNECT_TIMEOUT_SECONDS = 5


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
        already_done: bool = False,
        attempt_unknown: bool = False,
        missing: bool = False,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status
        self.decline_code = decline_code
        # The gateway answered from its idempotency store: retrying the same key cannot help.
        self.replayed = replayed
        # The operation was done by an earlier request whose answer we lost: look the result up.
        self.already_done = already_done
        # The gateway has no checkout under this confirmation key (wrong or expired).
        self.attempt_unknown = attempt_unknown
        # The gateway has no such object (payment, intent): it never had it, or lost it.
        self.missing = missing


class TransientGatewayError(GatewayError):
    """Timeouts, dropped connections, 5xx, 429 and the gateway's own "try again" answers."""

    retryable = True


class GatewayRefusal(GatewayError):
    """The gateway refused the payment for a business reason (declined card, limits)."""


class GatewayRequestError(GatewayError):
    """Our request or configuration is wrong (bad key, invalid field): not the customer's doing."""


class WebhookRejectedError(Exception):
    """A delivery that is not the gateway's (bad signature) or not readable; nothing is stored."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # INVALID_SIGNATURE or VALIDATION_ERROR
        self.message = message


def rejected_unless(valid: bool, message: str) -> None:
    """A delivery that breaks an input rule (chatju.validation) is a VALIDATION_ERROR: 400, nothing stored."""
    if not valid:
        raise WebhookRejectedError("VALIDATION_ERROR", message)


@dataclass(frozen=True)
class Order:
    """What an adapter needs to know of one of our orders."""

    order_id: str
    amount: int
    currency: str
    description: str = ""
    user_id: int | None = None
    started_reference: str | None = None  # the gateway payment made when the order started
    bound_reference: str | None = None  # the gateway payment the order is bound to


@dataclass(frozen=True)
class GatewayPayment:
    """The gateway's current view of one payment, in our terms."""

    reference: str  # the gateway's id of the payment (Toss paymentKey, Stripe PaymentIntent id)
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
    secret: str | None = field(default=None, repr=False)  # echoed by the gateway's own callbacks
    client_secret: str | None = field(default=None, repr=False)  # for the customer's browser only
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)  # redacted


@dataclass(frozen=True)
class RefundAccount:
    """The customer's bank account a refund is paid into (a deposited virtual account, say).

    Personal data: never logged, never in an error; `masked()` is what may be shown.
    """

    bank: str  # a code of chatju.validation.BANK_CODES
    account_number: str = field(repr=False)  # digits only
    holder_name: str = field(repr=False)

    def masked(self) -> dict[str, str]:
        """The bank and the account number's last four digits."""
        return {"bank": self.bank, "accountNumber": mask_account_number(self.account_number)}


def mask_account_number(number: str) -> str:
    return "*" * max(len(number) - 4, 0) + number[-4:]


@dataclass(frozen=True)
class Window:
    """A span of time, `since` included and `until` not, in UTC."""

    since: datetime
    until: datetime

    def holds(self, at: datetime | None) -> bool:
        return at is not None and self.since <= at < self.until


@dataclass(frozen=True)
class RefundRequest:
    refund_id: str  # ours: the gateway idempotency key
    amount: int
    reason: str
    whole: bool  # the whole payment, nothing refunded before
    account: RefundAccount | None = None  # where the money goes, for methods that `refunds_to_account`


@dataclass(frozen=True)
class GatewayRefund:
    """A refund as the gateway records it."""

    gateway_refund_id: str
    amount: int
    refund_id: str | None = None  # ours, where the gateway carries it back
    settled: bool = True  # succeeded or on its way; False: failed or canceled at the gateway


@dataclass(frozen=True)
class RefundResult:
    refund: GatewayRefund
    payment: GatewayPayment  # the payment as it stands after the refund


@dataclass(frozen=True)
class Delivery:
    """A webhook delivery, verified where the gateway signs, recognised, ready for the inbox."""

    event_id: str
    event_type: str | None
    order_id: str | None
    created_at: datetime | None
    handled: bool
    body: str  # as stored: the raw body less any credential in it
    headers: dict[str, str] = field(default_factory=dict)  # the delivery headers worth keeping


STANDARD_HEADERS = ("content-type", "user-agent")


def kept_headers(headers: Mapping[str, str], keep: Callable[[str], bool]) -> dict[str, str]:
    """The delivery headers worth keeping: the standard ones and those `keep` accepts (lowercase names)."""
    found = {name.lower(): value for name, value in headers.items()}
    return {name: value for name, value in found.items() if name in STANDARD_HEADERS or keep(name)}


@dataclass(frozen=True)
class Dispute:
    dispute_id: str | None
    reason: str | None
    amount: int | None
    status: str | None


@dataclass(frozen=True)
class Notice:
    """What a stored webhook event asks of the core; the gateway is always asked again before applying.

    The payment is found by `reference` (the gateway payment the event is about) and, failing that,
    by `order_id`; with `reference_is_payment` a different gateway payment already bound to that
    order means two payments name one order, and a person must look.
    """

    order_id: str | None = None
    reference: str | None = None
    reference_is_payment: bool = False
    secret: str | None = None  # a callback's shared secret, checked against the stored one
    check_secret: bool = False
    refunds: tuple[GatewayRefund, ...] = ()
    dispute: Dispute | None = None


@dataclass(frozen=True)
class CallRecord:
    """One outbound call, for the audit trail (`gateway_calls`)."""

    provider: str
    operation: str
    order_id: str | None
    idempotency_key: str | None
    http_status: int | None
    duration_ms: int
    outcome: str  # ok, error, timeout, connection_error
    error_code: str | None
    response: Mapping[str, Any] | None


Recorder = Callable[[CallRecord], None]


@dataclass
class CallOutcome:
    """What one outbound call came to, filled in by the client as it learns it."""

    http_status: int | None = None
    outcome: str = "ok"  # ok, error, timeout, connection_error
    error_code: str | None = None
    response: Mapping[str, Any] | None = None  # already redacted


@contextmanager
def recorded_call(
    recorder: Recorder, provider: str, operation: str, order_id: str | None, idempotency_key: str | None
) -> Iterator[CallOutcome]:
    """Time one outbound call and hand it to the audit recorder, however it ends."""
    started = time.perf_counter()
    seen = CallOutcome()
    try:
        yield seen
    finally:
        recorder(
            CallRecord(
                provider=provider,
                operation=operation,
                order_id=order_id,
                idempotency_key=idempotency_key,
                http_status=seen.http_status,
                duration_ms=round((time.perf_counter() - started) * 1000),
                outcome=seen.outcome,
                error_code=seen.error_code,
                response=seen.response,
            )
        )


class Gateway(Protocol):
    """One payment gateway, as the core sees it. An adapter implements every member."""

    name: str  # stored on each payment, inbox event and audit row
    # Capabilities the core's flows depend on (never the gateway's name):
    starts_at_gateway: bool  # the order's gateway payment is created when the order is (a PaymentIntent)
    confirms: bool  # the customer's checkout returns a key that we confirm server-side (Toss)
    handled_events: frozenset[str]  # webhook event types it acts on; others are stored as ignored

    def currencies(self) -> frozenset[str]:
        """The currencies this gateway takes here (uppercase ISO 4217)."""
        ...

    def minimum(self, currency: str) -> int:
        """The smallest amount it charges, in minor units."""
        ...

    def maximum(self, currency: str) -> int | None:
        """The largest amount it charges, if it has a limit of its own."""
        ...

    def refund_refusal(self, method: str | None) -> str | None:
        """Why a payment made with `method` cannot be refunded through the API, if it cannot."""
        ...

    def refunds_to_account(self, method: str | None) -> bool:
        """Whether a refund of a payment made with `method` is paid into an account the customer names.

        True: every refund of it needs a `RefundAccount`; False: a refund must come without one.
        """
        ...

    def start(self, order: Order) -> GatewayPayment:
        """Create the gateway payment for a new order (gateways that `starts_at_gateway`)."""
        ...

    def confirm(self, order: Order, key: str) -> GatewayPayment:
        """Confirm the checkout that returned `key` (gateways that `confirms`)."""
        ...

    def fetch(self, order: Order) -> GatewayPayment | None:
        """The gateway's current view of the order's payment; None when it has none."""
        ...

    def fetch_attempt(self, order: Order, key: str) -> GatewayPayment:
        """The gateway payment of one confirm attempt."""
        ...

    def cancel(self, order: Order) -> GatewayPayment:
        """Cancel the unpaid gateway payment made when the order started."""
        ...

    def refund(self, order: Order, request: RefundRequest) -> RefundResult:
        """Refund, in full or in part, with our refund id as the idempotency key."""
        ...

    def find_refund(self, order: Order, refund_id: str) -> GatewayRefund | None:
        """Our refund as the gateway recorded it, if the gateway can find it by our id."""
        ...

    def list_payments(self, window: Window) -> list[GatewayPayment]:
        """Every gateway payment that took money, refunded or changed in `window`, as it stands now.

        Paged by the gateway's own rules; each call is recorded like any other. For the drift report.
        """
        ...

    def read_webhook(self, raw: bytes, headers: Mapping[str, str]) -> Delivery:
        """Verify (where the gateway signs) and recognise a delivery; WebhookRejectedError if not."""
        ...

    def notice(self, event_type: str, body: str) -> Notice:
        """What a stored event of a handled type asks of the core."""
        ...

    def redact(self, value: Any) -> Any:
        """A copy of a gateway answer with secrets and personal data replaced."""
        ...


@dataclass
class GatewaySettings:
    """What the registry hands an adapter factory: the read timeout and the audit recorder."""

    timeout_seconds: float
    recorder: Recorder
    options: Mapping[str, Any] = field(default_factory=dict)
