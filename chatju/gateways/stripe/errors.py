"""Stripe's error tree as the port's typed errors (https://docs.stripe.com/error-handling)."""

from __future__ import annotations

from typing import Any

import stripe

from chatju.gateways.port import GatewayError, GatewayRefusal, GatewayRequestError, TransientGatewayError


def error_body(exc: stripe.StripeError) -> dict[str, Any]:
    error = exc.error
    return error.to_dict() if error is not None else {"message": str(exc.user_message or exc)}


def unreadable(exc: stripe.StripeError) -> bool:
    """The SDK raises a bare APIError without Stripe's error object when the body is not Stripe's JSON."""
    return type(exc) is stripe.APIError and exc.error is None and exc.http_status is not None


def error_from(exc: stripe.StripeError) -> GatewayError:
    """Stripe's error tree as ours: retryable or not, refusal or our own mistake."""
    error = exc.error
    code = str(exc.code or (error.type if error is not None else None) or type(exc).__name__)
    message = str((error.message if error is not None else None) or exc.user_message or "Stripe refused the request.")
    status = exc.http_status
    if unreadable(exc):
        # Not an answer Stripe's SDK could read (a body cut short, a proxy's page): whether the
        # request ran is unknown, whatever the status. A retry under the same key finds out.
        return TransientGatewayError("INVALID_RESPONSE", "Stripe's answer could not be read.", status)
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
        missing=code == "resource_missing",
    )
