"""One error shape for every failure: {"error": {"code", "message", "details"?}}."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, jsonify
from flask_limiter import RateLimitExceeded
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from chatju.auth.blocklist import BlocklistUnavailableError
from chatju.exceptions import (
    ConflictError,
    DomainError,
    GatewayRefusedError,
    InvalidRequestError,
    NotAllowedError,
    NotAuthenticatedError,
    NotFoundError,
)
from chatju.extensions import limiter
from chatju.gateways.registry import UnknownProviderError
from chatju.jobs import EnqueueError

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "INVALID_STATE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    502: "GATEWAY_ERROR",
    503: "SERVICE_UNAVAILABLE",
}
HTTP_MESSAGES = {
    400: "The request is malformed.",
    404: "Not found.",
    405: "Method not allowed.",
    413: "The request body is too large.",
    415: "The request body must be JSON (Content-Type: application/json).",
    429: "Too many requests; retry later.",
}


# The one place a domain refusal gets its HTTP status.
DOMAIN_STATUSES: dict[type[DomainError], int] = {
    InvalidRequestError: 400,
    NotAuthenticatedError: 401,
    NotAllowedError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    GatewayRefusedError: 502,
}


class APIError(Exception):
    """An error of the HTTP edge itself (a body that is not JSON, say), with its status and stable code."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    response = jsonify(error=body)
    response.status_code = status
    return response


def validation_details(exc: ValidationError) -> dict[str, Any]:
    """Field paths and messages, never the submitted values (they may be secrets)."""
    fields = [
        {"field": ".".join(str(part) for part in err["loc"]) or "body", "message": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]
    return {"fields": fields}


def _api_error(exc: APIError) -> Response:
    return error_response(exc.status, exc.code, exc.message, exc.details)


def _domain_error(exc: DomainError) -> Response:
    status = next((code for kind, code in DOMAIN_STATUSES.items() if isinstance(exc, kind)), 400)
    return error_response(status, exc.code, exc.message, exc.details)


def _gateway_not_enabled(exc: UnknownProviderError) -> Response:
    return error_response(404, "NOT_FOUND", "These payments are not enabled here.")


def _validation_error(exc: ValidationError) -> Response:
    if any(err["type"] == "json_invalid" for err in exc.errors()):
        return error_response(400, "VALIDATION_ERROR", "The request body is not valid JSON.")
    return error_response(400, "VALIDATION_ERROR", "The request is invalid.", validation_details(exc))


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = HTTP_CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "VALIDATION_ERROR")
    message = HTTP_MESSAGES.get(status) or exc.description or "Error."
    if status == 400 and exc.description and "JSON" in exc.description:
        message = "The request body is not valid JSON."
    response = error_response(status, code, message)
    if status == 405 and exc.get_response().headers.get("Allow"):
        response.headers["Allow"] = exc.get_response().headers["Allow"]
    return response


def _rate_limited(exc: RateLimitExceeded) -> Response:
    response = error_response(429, "RATE_LIMITED", HTTP_MESSAGES[429])
    current = limiter.current_limit
    wait = int(current.reset_at - time.time()) if current else 60
    response.headers["Retry-After"] = str(max(wait, 1))
    return response


def _enqueue_failed(exc: Exception) -> Response:
    return error_response(503, "SERVICE_UNAVAILABLE", "The service is busy; retry in a moment.")


def _database_unavailable(exc: OperationalError) -> Response:
    log.error("database unavailable", extra={"error": type(exc.orig).__name__})
    return error_response(503, "SERVICE_UNAVAILABLE", "The service is temporarily unavailable; retry shortly.")


def _blocklist_unavailable(exc: BlocklistUnavailableError) -> Response:
    # A logout that cannot be recorded is not answered as done: the client retries.
    log.error("token blocklist unavailable", extra={"error": str(exc)})
    return error_response(503, "SERVICE_UNAVAILABLE", "The service is temporarily unavailable; retry shortly.")


def _unhandled(exc: Exception) -> Response:
    log.exception("unhandled error")
    return error_response(500, "INTERNAL_ERROR", "Something went wrong on our side.")


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(APIError, _api_error)
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(UnknownProviderError, _gateway_not_enabled)
    app.register_error_handler(ValidationError, _validation_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(RateLimitExceeded, _rate_limited)
    app.register_error_handler(EnqueueError, _enqueue_failed)
    app.register_error_handler(OperationalError, _database_unavailable)
    app.register_error_handler(BlocklistUnavailableError, _blocklist_unavailable)
    app.register_error_handler(Exception, _unhandled)
