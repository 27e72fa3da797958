"""What every Stripe API route shares: auth, Idempotency-Key rules, parameters, the 404.

The routes are in `intents` and `refunds`. Every route goes through `pipeline.handle`
(latency, faults, Bearer auth, Idempotency-Key with Stripe's parameter check) and
answers Stripe's error object on failure. Bodies and queries use Stripe's form
encoding (`forms`); answers are JSON.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import parse_qsl

from flask import Blueprint, Response, g, request

from sandbox import pipeline
from sandbox.idempotency import Scope
from sandbox.replies import Reply
from sandbox.state import current_sandbox
from sandbox.stripe import errors
from sandbox.stripe.errors import StripeError, invalid
from sandbox.stripe.events import Origin
from sandbox.stripe.forms import Params, parse
from sandbox.stripe.objects import new_id
from sandbox.stripe.store import StripeStore

GATEWAY = "stripe"
OPERATIONS = frozenset({"create_intent", "retrieve", "search", "list", "cancel", "refund"})
MAX_IDEMPOTENCY_KEY = 255
ONE_DAY = 86400.0

bp = Blueprint("api", __name__)


def request_id() -> str:
    """This request's `req_...`: the `Request-Id` header and the `request.id` of its events."""
    if "stripe_request_id" not in g:
        g.stripe_request_id = new_id("req_", 14)
    return cast(str, g.stripe_request_id)


class StripeProfile:
    """Stripe's Bearer (or Basic) auth, Idempotency-Key rules (reference §3) and error shapes."""

    gateway = GATEWAY
    idempotency_ttl_seconds = ONE_DAY

    def authenticate(self) -> Reply | str:
        given = _api_key()
        secret = current_sandbox().config.stripe_secret_key
        if given is None:
            return errors.authentication(
                "You did not provide an API key. You need to provide your API key in the Authorization header, "
                "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
                "https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/."
            ).reply()
        if given.startswith("pk_"):
            message = "This API call cannot be made with a publishable API key. Please use a secret API key."
            return errors.authentication(message).reply()
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return errors.authentication(f"Invalid API Key provided: {mask(given)}").reply()
        return secret

    def idempotency_key(self) -> Reply | str | None:
        key = request.headers.get("Idempotency-Key")
        if not key:
            return None
        if len(key) > MAX_IDEMPOTENCY_KEY:
            message = f"Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY} characters long."
            return invalid(message).reply()
        return key

    def idempotency_scope(self, key: str, api_key: str) -> Scope:
        return (key, api_key)  # the account's keys: another endpoint with the same key is a mismatch

    def fingerprint(self) -> str | None:
        pairs = sorted(parse_qsl(request.get_data(as_text=True), keep_blank_values=True))
        return hashlib.sha256(json.dumps([request.method, request.path, pairs]).encode()).hexdigest()

    def response_headers(self, outcome: str) -> dict[str, str]:
        return {"Idempotent-Replayed": "true"} if outcome == "replayed" else {}

    def in_flight(self) -> Reply:
        return errors.in_flight(request.headers.get("Idempotency-Key", "")).reply()

    def key_reused(self) -> Reply:
        return errors.key_reused(request.headers.get("Idempotency-Key", "")).reply()

    def internal_error(self) -> Reply:
        return errors.internal_error().reply()


PROFILE = StripeProfile()


def _api_key() -> str | None:
    """The key of `Authorization: Bearer <key>` or of Basic auth with the key as user."""
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip(), validate=True).decode().partition(":")[0] or None
        except (binascii.Error, UnicodeDecodeError):
            return ""
    return "" if scheme else None


def mask(key: str) -> str:
    """`sk_test_****...0000`, as Stripe echoes a wrong key."""
    prefix = "_".join(key.split("_")[:2]) + "_" if key.count("_") >= 2 else ""
    hidden = key[len(prefix) : -4] if len(key) > len(prefix) + 4 else key[len(prefix) :]
    return prefix + "*" * len(hidden) + (key[-4:] if len(key) > len(prefix) + 4 else "")


def store() -> StripeStore:
    return cast(StripeStore, current_sandbox().gateways[GATEWAY].state)


def origin() -> Origin:
    return Origin(request_id(), request.headers.get("Idempotency-Key") or None)


def params(allowed: set[str]) -> Params:
    """The request's parameters: the form body of a POST, the query string of a GET."""
    raw = request.get_data(as_text=True) if request.method == "POST" else request.query_string.decode()
    return Params(parse(parse_qsl(raw, keep_blank_values=True)), allowed)


def expansions(given: Params, allowed: tuple[str, ...]) -> set[str]:
    wanted = set(given.strings("expand") or [])
    for name in sorted(wanted - set(allowed)):
        raise invalid(f"This property cannot be expanded ({name}).", "expand")
    return wanted


def run(operation: str | None, action: Callable[[], dict[str, Any]]) -> Response:
    def execute() -> Reply:
        try:
            return Reply.json(200, action())
        except StripeError as error:
            return error.reply()

    return pipeline.handle(PROFILE, operation, execute)


@bp.route("/", defaults={"rest": ""}, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(rest: str) -> Response:
    """Anything else under /stripe: Stripe's 404 (logged, so a wrong path in the service shows)."""
    return pipeline.refuse(PROFILE, None, errors.unrecognized_url(request.method, f"/{rest}").reply())
