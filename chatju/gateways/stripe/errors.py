"""Stripe's error tree as the port's typed errors (https://docs.stripe.com/error-handling)."""

from __future__ import annotations

from typing import Any

import stripe

from chatju.gateways.port import GatewayError, GatewayRefusal, GatewayRequestError, TransientGatewayError


def error_body(exc: stripe.StripeError) -> dict[str, Any]:
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
