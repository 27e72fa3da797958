"""JSON logs with a request id on every line, and a last-line scrub of secrets."""

from __future__ import annotations

import contextvars
import logging
import re
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# Bearer tokens, JWTs, gateway keys and sign-in tokens never reach a log line.
SECRET_PATTERNS = [
    (re.compile(r"(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [redacted]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"), "[redacted-jwt]"),
    (
        re.compile(r"\b((?:test|live)_(?:sk|ck|gsk|gck)_|(?:sk|rk|pk)_(?:test|live)_|whsec_)[A-Za-z0-9]+"),
        r"\1[redacted]",
    ),
    (re.compile(r"(?i)(token|secret|password|client_secret)(\"?\s*[=:]\s*\"?)[^\s\"&,}]+"), r"\1\2[redacted]"),
]


def redact(text: str) -> str:
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class RedactingJsonFormatter(JsonFormatter):
    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        if log_data.get("dev_mail"):
            # A development mail shown in the log (chatju.mail): its link is the point.
            return log_data
        return {key: redact(value) if isinstance(value, str) else value for key, value in log_data.items()}


def configure_logging(level: str) -> None:
    """Send every logger's records, as JSON, to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        RedactingJsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            timestamp=False,
        )
    )
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_chatju", False):
            root.removeHandler(existing)
    handler._chatju = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # Werkzeug's access log would repeat every request line in plain text.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
