"""Stripe behind the gateway port: a PaymentIntent per order, paid in the browser, reported by webhooks.

https://docs.stripe.com/payments/payment-intents — the intent is created when the
order is (`create-{orderId}`), canceled when an unpaid order ends (`cancel-{orderId}`),
refunded with our refund id as the key.
"""

from __future__ import annotations

from collections.abc import Mapping
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
from chatju.gateways.stripe import listing, webhooks
from chatju.gateways.stripe.client import NAME, StripeApi
from chatju.gateways.stripe.mapping import redact

__all__ = ["MAXIMUM", "MINIMUMS", "NAME", "StripeGateway", "build", "enabled"]

# Stripe's minimum charge in minor units (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts).
# KRW is not in Stripe's table; ₩100 keeps it in line with the Toss path.
MINIMUMS = {
    "USD": 50, "EUR": 50, "GBP": 30, "JPY": 50, "KRW": 100, "CAD": 50, "AUD": 50, "SGD": 50, "HKD": 400, "CHF": 50,
}  # fmt: skip
MAXIMUM = 99_999_999  # eight digits


class StripeGateway:
    name = NAME
    starts_at_gateway = True
    confirms = False
    handled_events = webhooks.HANDLED

    def __init__(self, api: StripeApi, currencies: frozenset[str], webhook_secret: str, page_size: int = 100) -> None:
        self._api = api
        self._page_size = page_size
        self._currencies = currencies
        self._webhook_secret = webhook_secret

    def currencies(self) -> frozenset[str]:
        """STRIPE_CURRENCIES, as far as Stripe's minimum charge is known for them."""
        return self._currencies & frozenset(MINIMUMS)

    def minimum(self, currency: str) -> int:
        return MINIMUMS[currency]

    def maximum(self, currency: str) -> int | None:
        return MAXIMUM

    def refund_refusal(self, method: str | None) -> str | None:
        return None

    def refunds_to_account(self, method: str | None) -> bool:
        return False  # Stripe refunds go back to the card or wallet that paid

    def start(self, order: Order) -> GatewayPayment:
        return self._api.create_intent(
            order.order_id, order.user_id or 0, order.amount, order.currency, order.description
        )

    def confirm(self, order: Order, key: str) -> GatewayPayment:
        raise GatewayRequestError("NOT_SUPPORTED", "Stripe payments are confirmed in the browser.")

    def fetch(self, order: Order) -> GatewayPayment | None:
        """By the stored intent id; an intent whose create answer we lost is found by its metadata."""
        if order.started_reference:
            return self._api.retrieve_intent(order.started_reference, order.order_id)
        return self._api.find_intent(order.order_id)

    def fetch_attempt(self, order: Order, key: str) -> GatewayPayment:
        return self._api.retrieve_intent(key, order.order_id)

    def cancel(self, order: Order) -> GatewayPayment:
        return self._api.cancel_intent(str(order.started_reference), order.order_id)

    def refund(self, order: Order, request: RefundRequest) -> RefundResult:
        if request.account is not None:
            # The core asks refunds_to_account first; a request that still carries one is ours to refuse.
            raise GatewayRequestError("REFUND_ACCOUNT_NOT_ACCEPTED", "Stripe refunds go back to the payment method.")
        intent = str(order.started_reference)
        created = self._api.create_refund(intent, order.order_id, request.amount, request.reason, request.refund_id)
        return RefundResult(created, self._api.retrieve_intent(intent, order.order_id))

    def find_refund(self, order: Order, refund_id: str) -> GatewayRefund | None:
        """Our refund among the intent's, by the refund id we put in its metadata."""
        if not order.started_reference:
            return None
        try:
            found = self._api.list_refunds(order.started_reference, order.order_id)
        except GatewayError:
            return None
        return next((item for item in found if item.refund_id == refund_id), None)

    def list_payments(self, window: Window) -> list[GatewayPayment]:
        return listing.list_payments(self._api, window, self._page_size)

    def read_webhook(self, raw: bytes, headers: Mapping[str, str]) -> Delivery:
        return webhooks.read(raw, headers, self._webhook_secret)

    def notice(self, event_type: str, body: str) -> Notice:
        return webhooks.notice(event_type, body)

    def redact(self, value: Any) -> Any:
        return redact(value)


def enabled(settings: Settings) -> bool:
    return settings.stripe_enabled


def build(settings: Settings, recorder: Recorder) -> StripeGateway:
    api = StripeApi(settings.stripe_secret_key, settings.stripe_api_base, settings.gateway_timeout_seconds, recorder)
    return StripeGateway(api, settings.stripe_currencies, settings.stripe_webhook_secret, settings.drift_page_size)
