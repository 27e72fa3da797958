"""Per-request plumbing: request ids, access logs, security headers."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from chatju.logs import request_id_var
from chatju.observability import metrics

log = logging.getLogger("chatju.access")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}
API_CSP = "default-src 'none'; frame-ancestors 'none'"


def _start_request() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex
    g.started = time.perf_counter()
    request_id_var.set(g.request_id)


def _finish_request(response: Response) -> Response:
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
    app.before_request(_start_request)
    app.after_request(_finish_request)
    app.teardown_request(_clear_request)
