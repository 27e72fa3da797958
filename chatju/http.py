"""Per-request plumbing: request ids, access logs, security headers, body limits, path ids."""

from __future__ import annotations

import io
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import IO, Any, TypeVar

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter
from werkzeug.wsgi import LimitedStream

from chatju.errors import APIError
from chatju.logs import request_id_var
from chatju.observability import metrics
from chatju.settings import current_settings
from chatju.validation import ORDER_ID_PATTERN

log = logging.getLogger("chatju.access")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}
API_CSP = "default-src 'none'; frame-ancestors 'none'"
# How much of a refused or unread body is read and dropped so the sender gets to read the answer;
# past this the connection is closed under it.
DRAIN_BYTES = 16 * 1024 * 1024
DRAINED = "chatju.body_drained"
F = TypeVar("F", bound=Callable[..., Any])


class OrderIdConverter(BaseConverter):
    """`<order_id:...>`: only what could be one of our order ids matches; anything else is a 404 by routing."""

    regex = ORDER_ID_PATTERN


def large_body(view: F) -> F:
    """The view takes bodies up to WEBHOOK_MAX_BYTES instead of MAX_REQUEST_BYTES (gateway webhooks)."""
    view.large_body = True  # type: ignore[attr-defined]
    return view


def _body_limit() -> int:
    settings = current_settings()
    view = current_app.view_functions.get(request.endpoint or "")
    return settings.webhook_max_bytes if getattr(view, "large_body", False) else settings.max_request_bytes


def _limit_body() -> None:
    """413 PAYLOAD_TOO_LARGE before anything reads a body past the route's limit (SPEC §9).

    A declared length is checked as it is; a body without one (chunked) is read here up to
    the limit, since werkzeug would cut it short at the limit without a word. What was sent
    is drained before the answer.
    """
    limit = _body_limit()
    request.max_content_length = limit
    length = request.content_length
    if length is None and request.environ.get("wsgi.input_terminated"):
        length = _buffer_unsized_body(limit)
    if length is not None and length > limit:
        drain_body()
        raise APIError(413, "PAYLOAD_TOO_LARGE", f"The request body is larger than {limit} bytes.")


def _buffer_unsized_body(limit: int) -> int:
    """Read a body of unknown length up to one byte past `limit`; within it, the app reads the copy."""
    stream: IO[bytes] = request.environ["wsgi.input"]
    data = bytearray()
    try:
        while len(data) <= limit and (chunk := stream.read(min(64 * 1024, limit + 1 - len(data)))):
            data += chunk
    except (OSError, ValueError):
        raise APIError(400, "VALIDATION_ERROR", "The request body could not be read.") from None
    if len(data) <= limit:
        request.environ["wsgi.input"] = io.BytesIO(bytes(data))
    return len(data)


def _rest_of_body() -> IO[bytes]:
    environ = request.environ
    if environ.get("wsgi.input_terminated"):
        stream: IO[bytes] = environ["wsgi.input"]  # the server ends it where the body ends
        return stream
    if "stream" in request.__dict__:
        return request.stream  # already reading it: the same bounded stream, at its position
    return LimitedStream(environ["wsgi.input"], request.content_length or 0)  # type: ignore[return-value]


def drain_body() -> None:
    """Read and drop what is left of the body (up to DRAIN_BYTES), so the client reads the answer.

    A server that closes the connection with request bytes still unread makes the
    client's kernel see a reset, and the answer is lost before the client reads it.
    """
    if request.environ.get(DRAINED):
        return
    request.environ[DRAINED] = True
    stream, left = _rest_of_body(), DRAIN_BYTES
    try:
        while left > 0 and (chunk := stream.read(min(left, 64 * 1024))):
            left -= len(chunk)
    except (OSError, HTTPException):
        pass  # the client went away or broke off its body: nothing left to answer


def _start_request() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex
    g.started = time.perf_counter()
    request_id_var.set(g.request_id)


def _finish_request(response: Response) -> Response:
    drain_body()  # a body the view did not read (an early 401, say): the answer must still arrive
    response.headers["X-Request-ID"] = g.get("request_id", "")
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "application/json":
        response.headers.setdefault("Content-Security-Policy", API_CSP)
        response.headers.setdefault("Cache-Control", "no-store")
    elapsed_ms = round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 1)
    metrics.observe_request(request.url_rule, request.method, response.status_code, elapsed_ms / 1000)
    log.info(
        "request",
        extra={
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": elapsed_ms,
        },
    )
    return response


def _clear_request(exc: BaseException | None) -> None:
    request_id_var.set(None)


def init_app(app: Flask) -> None:
    app.url_map.converters["order_id"] = OrderIdConverter
    app.before_request(_start_request)
    app.before_request(_limit_body)
    app.after_request(_finish_request)
    app.teardown_request(_clear_request)
