"""What the domain raises when a request cannot be served; chatju.errors gives each its HTTP status.

Services and jobs raise these and know nothing of HTTP; the edge maps them to the
error body of SPEC §4 in one place.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal the caller is meant to see, with a stable code and optional details."""

    code = "VALIDATION_ERROR"

    def __init__(self, message: str, details: dict[str, Any] | None = None, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code


class InvalidRequestError(DomainError):
    """The input is malformed or out of range (VALIDATION_ERROR, AMOUNT_MISMATCH, AMOUNT_OUT_OF_RANGE)."""


class NotAuthenticatedError(DomainError):
    code = "UNAUTHORIZED"


class NotAllowedError(DomainError):
    code = "FORBIDDEN"


class NotFoundError(DomainError):
    """No such thing, or not the caller's: the same answer either way."""

    code = "NOT_FOUND"


class ConflictError(DomainError):
    """The request conflicts with the current state (INVALID_STATE, PAYMENT_KEY_MISMATCH, ...)."""

    code = "INVALID_STATE"


class GatewayRefusedError(DomainError):
    """A gateway refused in a way the client cannot fix."""

    code = "GATEWAY_ERROR"


def invalid_state(message: str, status: object) -> ConflictError:
    """409 INVALID_STATE with the current status in `details.status` (SPEC §4)."""
    return ConflictError(message, {"status": str(status)})
