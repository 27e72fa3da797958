"""Gunicorn settings: JSON log lines like the app's (the app logs each request itself), metrics hooks,
and gunicorn's own refusals in the app's JSON error shape."""

import json

import gunicorn.util

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "chatju.logs.RedactingJsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    # The app (chatju.logs) puts its own JSON handler on the root logger.
    "root": {"level": "INFO", "handlers": []},
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}

# One fixed control socket per user would clash between instances (make run, the tests).
control_socket_disable = True

# The longest request line gunicorn takes short of "unlimited" (default 4094): long query strings reach
# the app. Longer lines, and headers gunicorn cannot parse, are refused by gunicorn before the app sees
# them, answered by `json_error` below.
limit_request_line = 8190

# gunicorn's refusals by status, in the app's terms (chatju/errors.py); gunicorn's own message echoes
# what was sent, so a fixed one is given instead.
REFUSALS = {
    400: ("VALIDATION_ERROR", "The request is malformed."),
    403: ("FORBIDDEN", "The request is forbidden."),
    414: ("VALIDATION_ERROR", "The request line is too long."),
    417: ("VALIDATION_ERROR", "The Expect header cannot be met."),
    431: ("VALIDATION_ERROR", "The request headers are too large."),
    501: ("VALIDATION_ERROR", "The transfer coding is not supported."),
}
HEADERS = (
    "Connection: close\r\n"
    "Content-Type: application/json\r\n"
    "Cache-Control: no-store\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
)


def json_error(sock: object, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn.util.write_error's replacement: the same status and Connection: close, a JSON body.

    gunicorn has no setting for the body of the answers it gives itself (a request line
    too long, a malformed header); it writes them with this one function, so replacing it
    is the one way to keep every error of the service in one shape.
    """
    code, message = REFUSALS.get(status_int, ("INTERNAL_ERROR", "Something went wrong on our side."))
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    head = f"HTTP/1.1 {status_int} {reason}\r\n{HEADERS}Content-Length: {len(body)}\r\n\r\n"
    gunicorn.util.write_nonblock(sock, head.encode("latin-1") + body)


gunicorn.util.write_error = json_error


def on_starting(server: object) -> None:
    """Before any worker: the metrics directory every worker inherits, cleared if no process still counts."""
    from chatju.config import settings_or_exit
    from chatju.observability import multiprocess

    multiprocess.prepare_main_process(settings_or_exit().instance_dir)


def child_exit(server: object, worker: object) -> None:
    """A worker died: its live gauges go with it (prometheus-client multiprocess mode)."""
    from chatju.observability import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
