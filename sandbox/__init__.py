"""The gateway sandbox: a stateful stand-in for Toss Payments and Stripe.

    flask --app sandbox run --port 8081
    python -m sandbox        # on SANDBOX_PORT (8081), 127.0.0.1 only

Routes: `/toss/v1/...` (the Toss core API), `/toss/checkout` (the hosted checkout),
`/toss/receipt/<paymentKey>`, `/stripe/v1/...` (the Stripe API), `/stripe/pay` (the
hosted page standing in for Elements), `/stripe/receipt/<charge>`, `/_control/...`
(reset, faults, webhook knobs, logs; `/_control/toss/...`, `/_control/stripe/...`).
The control API has no authentication: never listen on anything but 127.0.0.1.
It shares nothing with the service's app or database.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from sandbox import control, stripe, toss
from sandbox.config import SandboxConfig
from sandbox.replies import Reply
from sandbox.state import EXTENSION, Sandbox
from sandbox.stripe import errors as stripe_errors
from sandbox.toss.errors import error_reply

MAX_BODY_BYTES = 1024 * 1024


def create_app(environ: Mapping[str, str] | None = None) -> Flask:
    """Build the sandbox from `environ` (default: the process environment) with an empty state."""
    config = SandboxConfig.from_env(os.environ if environ is None else environ)
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    sandbox = Sandbox(config)
    toss.install(sandbox)
    stripe.install(sandbox)
    app.extensions[EXTENSION] = sandbox
    app.register_blueprint(toss.bp)
    app.register_blueprint(toss.control_bp, url_prefix="/_control/toss")
    app.register_blueprint(stripe.bp)
    app.register_blueprint(stripe.control_bp, url_prefix="/_control/stripe")
    app.register_blueprint(control.bp)
    app.register_error_handler(HTTPException, _http_error)
    return app


def _http_error(error: HTTPException) -> Response | tuple[Response, int]:
    """Errors raised outside a gateway route's own handling, in that gateway's shape."""
    status = error.code or 500
    if request.path.startswith("/toss/"):
        code = {404: "NOT_FOUND", 405: "NOT_FOUND", 500: "FAILED_INTERNAL_SYSTEM_PROCESSING"}.get(status)
        return error_reply(code or "INVALID_REQUEST").response()
    if request.path.startswith("/stripe/"):
        return _stripe_error(status, error).response()
    return jsonify(code=error.name.upper().replace(" ", "_"), message=error.description), status


def _stripe_error(status: int, error: HTTPException) -> Reply:
    if status == 404:
        return stripe_errors.unrecognized_url(request.method, request.path.removeprefix("/stripe")).reply()
    if status >= 500:
        return stripe_errors.internal_error().reply()
    return stripe_errors.StripeError(status, error.description or error.name).reply()
