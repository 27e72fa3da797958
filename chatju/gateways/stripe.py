"""Stripe PaymentIntents and refunds through the official SDK: everything Stripe, in one place.

https://docs.stripe.com/api/payment_intents — one StripeClient per process,
pointed at STRIPE_API_BASE; every POST carries an idempotency key that is
stable for its business operation (`create-{orderId}`, `cancel-{orderId}`, the
refund id), so a Celery retry gets the first request's real answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import stripe

from chatju.gateways.base import (
    CallRecord,
    GatewayError,
    GatewayPayment,
    GatewayRefusal,
    GatewayRequestError,
    Recorder,
    TransientGatewayError,
    redact,
)
from chatju.payments.states import PaymentStatus, Provider

CONNECT_TIMEOUT_SECONDS = 5
# Stripe's minimum charge in minor units (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts).
# KRW is not in Stripe's table; ₩100 keeps it in line with the Toss path.
MINIMUMS = {
    "USD": 50, "EUR": 50, "GBP": 30, "JPY": 50, "KRW": 100, "CAD": 50, "AUD": 50, "SGD": 50, "HKD": 400, "CHF": 50,
}  # fmt: skip
MAXIMUM = 99_999_999  # eight digits
METHODS = {"card": "card"}
T = TypeVar("T")

_clients: dict[tuple[str, str, float], stripe.StripeClient] = {}
_clients_lock = threading.Lock()


def create_key(order_id: str) -> str:
    return f"create-{order_id}"


def cancel_key(order_id: str) -> str:
    return f"cancel-{order_id}"


def _client(secret_key: str, api_base: str, timeout: float) -> stripe.StripeClient:
    """One StripeClient per configuration and process (never `stripe.api_key = ...`)."""
    key = (secret_key, api_base, timeout)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = stripe.StripeClient(
                secret_key,
                base_addresses={"api": api_base},
                http_client=stripe.RequestsClient(timeout=(CONNECT_TIMEOUT_SECONDS, timeout)),
                max_network_retries=0,  # retries are Celery's, with our own stable keys
            )
        return _clients[key]


class StripeGateway:
    def __init__(self, secret_key: str, api_base: str, timeout_seconds: float, recorder: Recorder) -> None:
        self._stripe = _client(secret_key, api_base.rstrip("/"), timeout_seconds)
        self._record = recorder

    def create_intent(
        self, order_id: str, user_id: int, amount: int, currency: str, description: str
    ) -> GatewayPayment:
        """POST /v1/payment_intents (https://docs.stripe.com/api/payment_intents/create)."""
        params = intent_params(order_id, user_id, amount, currency, description)
        intent = self._call(
            "create_intent",
            order_id,
            create_key(order_id),
            lambda: self._stripe.v1.payment_intents.create(
                params=params, options={"idempotency_key": create_key(order_id)}
            ),  # type: ignore[arg-type]
        )
        return to_payment(intent)

    def retrieve_intent(self, intent_id: str, order_id: str | None = None) -> GatewayPayment:
        """GET /v1/payment_intents/{id}, with the latest charge (refunds, card, receipt)."""
        intent = self._call(
            "retrieve",
            order_id,
            None,
            lambda: self._stripe.v1.payment_intents.retrieve(intent_id, params={"expand": ["latest_charge"]}),
        )
        return to_payment(intent)

    def find_intent(self, order_id: str) -> GatewayPayment | None:
        """The intent created for an order whose create answer we lost, found by its metadata."""
        query = f"metadata['order_id']:'{order_id}'"
        result = self._call(
            "search",
            order_id,
            None,
            lambda: self._stripe.v1.payment_intents.search(params={"query": query, "expand": ["data.latest_charge"]}),
        )
        found = [item for item in result.get("data", []) if (item.get("metadata") or {}).get("order_id") == order_id]
        found.sort(key=lambda item: item.get("status") != "succeeded")  # a paid intent first
        return to_payment(found[0]) if found else None

    def cancel_intent(self, intent_id: str, order_id: str) -> GatewayPayment:
        """POST /v1/payment_intents/{id}/cancel."""
        intent = self._call(
            "cancel",
            order_id,
            cancel_key(order_id),
            lambda: self._stripe.v1.payment_intents.cancel(
                intent_id,
                params={"cancellation_reason": "requested_by_customer"},
                options={"idempotency_key": cancel_key(order_id)},
            ),
        )
        return to_payment(intent)

    def create_refund(self, intent_id: str, order_id: str, amount: int, reason: str, refund_id: str) -> dict[str, Any]:
        """POST /v1/refunds (https://docs.stripe.com/api/refunds/create); our refund id is the key."""
        params: dict[str, Any] = {
            "payment_intent": intent_id,
            "amount": amount,
            "reason": "requested_by_customer",
            "metadata": {"refund_id": refund_id, "order_id": order_id, "reason": reason[:500]},
        }
        return self._call(
            "refund",
            order_id,
            refund_id,
            lambda: self._stripe.v1.refunds.create(params=params, options={"idempotency_key": refund_id}),  # type: ignore[arg-type]
        )

    def _call(self, operation: str, order_id: str | None, key: str | None, call: Callable[[], Any]) -> dict[str, Any]:
        started = time.perf_counter()
        status: int | None = None
        body: dict[str, Any] | None = None
        outcome, error_code = "ok", None
        try:
            result = call()
            status, body = 200, result.to_dict()
            return body
        except stripe.StripeError as exc:
            error = error_from(exc)
            status, error_code = exc.http_status, error.code
            outcome = "connection_error" if isinstance(exc, stripe.APIConnectionError) else "error"
            body = {"error": redact(_error_body(exc))}
            raise error from None
        finally:
            self._record(
                CallRecord(
                    provider=Provider.STRIPE,
                    operation=operation,
                    order_id=order_id,
                    idempotency_key=key,
                    http_status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000),
                    outcome=outcome,
                    error_code=error_code,
                    response=redact(body) if body is not None else None,
                )
            )


def intent_params(order_id: str, user_id: int, amount: int, currency: str, description: str) -> dict[str, Any]:
    """The create parameters: minor units as Stripe counts them (whole yen and won), lowercase currency."""
    return {
        "amount": amount,
        "currency": currency.lower(),
        "automatic_payment_methods": {"enabled": True},
        "metadata": {"order_id": order_id, "user_id": str(user_id)},
        "description": description,
    }


def _error_body(exc: stripe.StripeError) -> dict[str, Any]:
    error = exc.error
    return error.to_dict() if error is not None else {"message": str(exc.user_message or exc)}


def error_from(exc: stripe.StripeError) -> GatewayError:
    """Stripe's error tree as ours: retryable or not, refusal or our own mistake."""
    error = exc.error
    code = str(exc.code or (error.type if error is not None else None) or type(exc).__name__)
    message = str((error.message if error is not None else None) or exc.user_message or "Stripe refused the request.")
    status = exc.http_status
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError) or status == 409 or (status or 0) >= 500:
        kind: type[GatewayError] = TransientGatewayError
    elif isinstance(exc, stripe.CardError) or code in ("amount_too_small", "amount_too_large"):
        kind = GatewayRefusal
    else:
        kind = GatewayRequestError  # invalid request, authentication, idempotency misuse
    return kind(
        code,
        message,
        status,
        decline_code=error.decline_code if error is not None else None,
        replayed=(exc.headers or {}).get("Idempotent-Replayed") == "true",
    )


def to_payment(intent: dict[str, Any]) -> GatewayPayment:
    """A PaymentIntent (with `latest_charge` expanded when available) in our terms."""
    status = str(intent.get("status") or "")
    amount = int(intent.get("amount") or 0)
    charge = intent.get("latest_charge") if isinstance(intent.get("latest_charge"), dict) else {}
    refunded = int(charge.get("amount_refunded") or 0) if status == "succeeded" else 0
    error = intent.get("last_payment_error") or {}
    details = charge.get("payment_method_details") or {}
    card = details.get("card") or {}
    return GatewayPayment(
        provider=Provider.STRIPE,
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
        approved_at=datetime.fromtimestamp(charge["created"], UTC)
        if status == "succeeded" and charge.get("created")
        else None,
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
