"""Toss's error answers as the port's typed errors (reference/toss.md §4)."""

from __future__ import annotations

from typing import Any

from chatju.gateways.port import GatewayError, GatewayRefusal, GatewayRequestError, TransientGatewayError

# Toss's own "try again in a moment" answers (reference/toss.md §4).
RETRYABLE_CODES = frozenset(
    {
        "PROVIDER_ERROR",
        "FAILED_INTERNAL_SYSTEM_PROCESSING",
        "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING",
        "UNKNOWN_PAYMENT_ERROR",
        "COMMON_ERROR",
        "UNKNOWN_ERROR",
        "FAILED_METHOD_HANDLING",
        "FAILED_METHOD_HANDLING_CANCEL",
        "FAILED_REFUND_PROCESS",
        "FAILED_PARTIAL_REFUND",
        "FORBIDDEN_CONSECUTIVE_REQUEST",
        "IDEMPOTENT_REQUEST_PROCESSING",
    }
)
# Our request or our merchant setup is at fault: the customer cannot fix these.
REQUEST_ERROR_CODES = frozenset(
    {
        "UNAUTHORIZED_KEY",
        "INVALID_API_KEY",
        "INCORRECT_BASIC_AUTH_FORMAT",
        "INVALID_REQUEST",
        "INVALID_IDEMPOTENCY_KEY",
        "INVALID_TEST_CODE",
        "NOT_FOUND_TERMINAL_ID",
        "INVALID_UNREGISTERED_SUBMALL",
        "NOT_REGISTERED_BUSINESS",
        "NOT_FOUND_HTTP_METHOD",
        "INVALID_ORDER_ID",
        "INVALID_ORDER_NAME",
    }
)
SESSION_NOT_FOUND = "NOT_FOUND_PAYMENT_SESSION"
# Confirm answers meaning Toss has no authenticated payment under this key for this order.
SESSION_GONE_CODES = frozenset({SESSION_NOT_FOUND, "NOT_FOUND_PAYMENT"})
# Statuses a proxy or a hiccup may answer with, where the request may or may not have run.
UNCERTAIN_STATUSES = frozenset({408, 409, 425, 429})
ALREADY_PROCESSED = "ALREADY_PROCESSED_PAYMENT"
NOT_FOUND_CODES = frozenset({"NOT_FOUND_PAYMENT", "NOT_FOUND"})


def error_from(status: int, data: dict[str, Any]) -> GatewayError:
    """Toss's `{code, message}` as a typed error."""
    if not data.get("code"):
        # Not Toss's own answer (a proxy's error page, say): whether it ran is unknown.
        return TransientGatewayError(f"HTTP_{status}", "Toss's answer could not be read.", status)
    code = str(data["code"])
    message = str(data.get("message") or "Toss answered without an explanation.")
    kind: type[GatewayError] = GatewayRefusal
    if status >= 500 or status in UNCERTAIN_STATUSES or code in RETRYABLE_CODES:
        kind = TransientGatewayError
    elif code in REQUEST_ERROR_CODES or status == 401:
        kind = GatewayRequestError
    return kind(
        code,
        message,
        status,
        already_done=code == ALREADY_PROCESSED,
        attempt_unknown=code in SESSION_GONE_CODES,
        missing=code in NOT_FOUND_CODES,
    )
