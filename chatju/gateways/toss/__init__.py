"""Toss Payments behind the gateway port (KRW; the customer checks out at Toss, we confirm).

https://docs.tosspayments.com/reference — the checkout returns a paymentKey that we
confirm server-side; refunds are cancels; webhooks are unsigned nudges.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from chatju.config import Settings
from chatju.gateways.port import (
    Delivery,
    GatewayError,
    GatewayPayment,
    GatewayRefund,
    GatewayRequestError,
    Notice,
    Order,
    Recorder,
    RefundRequest,
    RefundResult,
    Window,
)
from chatju.gateways.toss import transactions, webhooks
from chatju.gateways.toss.client import NAME, TossClient
from chatju.gateways.toss.errors import NOT_FOUND_CODES
from chatju.gateways.toss.mapping import redact

__all__ = ["CURRENCY", "NAME", "TossGateway", "build", "enabled"]

CURRENCY = "KRW"
VIRTUAL_ACCOUNT = "virtual_account"
MINIMUM_KRW = 100  # Toss cards: ₩100


class TossGateway:
    name = NAME
    starts_at_gateway = False
    confirms = True
    handled_events = webhooks.HANDLED

    def __init__(self, client: TossClient, page_size: int = 100) -> None:
        self._client = client
        self._page_size = page_size

    def currencies(self) -> frozenset[str]:
        return frozenset({CURRENCY})

    def minimum(self, currency: str) -> int:
        return MINIMUM_KRW

    def maximum(self, currency: str) -> int | None:
        return None

    def refund_refusal(self, method: str | None) -> str | None:
        return None

    def refunds_to_account(self, method: str | None) -> bool:
        # A deposited virtual account is refunded by bank transfer to the account the customer names
        # (refundReceiveAccount); every other method goes back the way it came.
        return method == VIRTUAL_ACCOUNT

    def start(self, order: Order) -> GatewayPayment:
        raise GatewayRequestError("NOT_SUPPORTED", "Toss payments start in the customer's checkout.")

    def confirm(self, order: Order, key: str) -> GatewayPayment:
        return self._client.confirm(key, order.order_id, order.amount)

    def fetch(self, order: Order) -> GatewayPayment | None:
        try:
            return self._client.fetch_by_order(order.order_id)
        except GatewayError as error:
            if error.code in NOT_FOUND_CODES:
                return None  # the customer never reached the checkout
            raise

    def fetch_attempt(self, order: Order, key: str) -> GatewayPayment:
        return self._client.fetch(key, order.order_id)

    def cancel(self, order: Order) -> GatewayPayment:
        raise GatewayRequestError("NOT_SUPPORTED", "An unpaid Toss checkout expires at Toss on its own.")

    def refund(self, order: Order, request: RefundRequest) -> RefundResult:
        """A cancel of the payment: full without an amount, else partial; our refund id is the key.

        A virtual account's refund carries the customer's account (refundReceiveAccount), which
        Toss requires once it was deposited.
        """
        amount = None if request.whole else request.amount
        seen = self._client.cancel(
            str(order.bound_reference), order.order_id, request.reason, amount, request.refund_id, request.account
        )
        cancels = seen.raw.get("cancels") or []
        reference = str(cancels[-1].get("transactionKey")) if cancels else request.refund_id
        return RefundResult(GatewayRefund(reference, request.amount, request.refund_id), seen)

    def find_refund(self, order: Order, refund_id: str) -> GatewayRefund | None:
        return None  # Toss's cancels do not carry our id: the same key is sent again instead

    def list_payments(self, window: Window) -> list[GatewayPayment]:
        return transactions.list_payments(self._client, window, self._page_size, datetime.now(UTC))

    def read_webhook(self, raw: bytes, headers: Mapping[str, str]) -> Delivery:
        return webhooks.read(raw, headers)

    def notice(self, event_type: str, body: str) -> Notice:
        return webhooks.notice(event_type, body)

    def redact(self, value: Any) -> Any:
        return redact(value)


def enabled(settings: Settings) -> bool:
    return settings.toss_enabled


def build(settings: Settings, recorder: Recorder) -> TossGateway:
    client = TossClient(settings.toss_secret_key, settings.toss_api_base, settings.gateway_timeout_seconds, recorder)
    return TossGateway(client, settings.drift_page_size)
