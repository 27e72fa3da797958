"""Stripe's error object, `{"error": {"type", "code"?, "decline_code"?, "message", "param"?, "doc_url"?}}`.

https://docs.stripe.com/api/errors. Parameter errors (`validation=True`) are answered but
not kept under the Idempotency-Key, as Stripe saves nothing when validation fails.
"""

from __future__ import annotations

from typing import Any

from sandbox.replies import Reply

INVALID_REQUEST, CARD_ERROR, API_ERROR = "invalid_request_error", "card_error", "api_error"
IDEMPOTENCY_ERROR = "idempotency_error"


class StripeError(Exception):
    """A refusal the API answers as Stripe's error object with `status`."""

    def __init__(self, status: int, message: str, *, type: str = INVALID_REQUEST, code: str | None = None,
                 param: str | None = None, validation: bool = False, **extra: Any) -> None:  # fmt: skip
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type, code, param
        self.validation = validation
        self.extra = extra

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        error["message"] = self.message
        if self.param is not None:
            error["param"] = self.param
        return {"error": {**error, **self.extra}}

    def reply(self) -> Reply:
        return Reply.json(self.status, self.to_json(), replayable=not self.validation)


def invalid(message: str, param: str | None = None, code: str | None = None) -> StripeError:
    """A parameter that failed validation: 400, not saved under the Idempotency-Key."""
    return StripeError(400, message, code=code, param=param, validation=True)


def unknown_parameter(name: str) -> StripeError:
    return invalid(f"Received unknown parameter: {name}", name, "parameter_unknown")


def missing_parameter(name: str) -> StripeError:
    return invalid(f"Missing required param: {name}.", name, "parameter_missing")


def resource_missing(kind: str, object_id: str, param: str) -> StripeError:
    return StripeError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def unexpected_state(message: str) -> StripeError:
    return StripeError(400, message, code="payment_intent_unexpected_state")


def unrecognized_url(method: str, path: str) -> StripeError:
    message = (
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/."
    )
    return StripeError(404, message)


def authentication(message: str) -> StripeError:
    return StripeError(401, message)


def internal_error() -> StripeError:
    return StripeError(500, "An unknown error occurred", type=API_ERROR)


def in_flight(key: str) -> StripeError:
    message = (
        "There is currently another in-progress request using this Idempotent Key (that probably "
        f"means you submitted twice, and the other request is still going through): {key}. "
        "Please try again later."
    )
    return StripeError(409, message, code="idempotency_key_in_use")


def key_reused(key: str) -> StripeError:
    message = (
        "Keys for idempotent requests can only be used with the same parameters they were first "
        f"used with. Try using a key other than '{key}' if you meant to execute a different request."
    )
    return StripeError(400, message, type=IDEMPOTENCY_ERROR)
