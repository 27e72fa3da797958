"""The Toss core API the service calls: confirm, lookups, cancel (reference §2).

Every route goes through `pipeline.handle` (latency, faults, Basic auth,
Idempotency-Key) and answers Toss's `{"code", "message"}` on failure.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable
from typing import Any, cast

from flask import Blueprint, Response, request

from sandbox import pipeline
from sandbox.idempotency import FIFTEEN_DAYS, Scope
from sandbox.replies import Reply
from sandbox.state import current_sandbox
from sandbox.toss.errors import TossError, error_reply
from sandbox.toss.store import TossStore

GATEWAY = "toss"
OPERATIONS = frozenset({"confirm", "cancel", "fetch", "transactions"})
MAX_IDEMPOTENCY_KEY = 300
MAX_CANCEL_REASON = 200

bp = Blueprint("api", __name__)


class TossProfile:
    """Toss's Basic auth (`base64("<secret key>:")`), Idempotency-Key and error shapes."""

    gateway = GATEWAY
    idempotency_ttl_seconds = FIFTEEN_DAYS

    def authenticate(self) -> Reply | str:
        scheme, _, encoded = request.headers.get("Authorization", "").strip().partition(" ")
        if not scheme:
            return error_reply("UNAUTHORIZED_KEY")
        if scheme.lower() != "basic":
            return error_reply("INCORRECT_BASIC_AUTH_FORMAT")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return error_reply("INCORRECT_BASIC_AUTH_FORMAT")
        if ":" not in decoded:
            return error_reply("INCORRECT_BASIC_AUTH_FORMAT")
        secret = current_sandbox().config.toss_secret_key
        if not hmac.compare_digest(decoded.encode(), f"{secret}:".encode()):
            return error_reply("UNAUTHORIZED_KEY")
        return secret

    def idempotency_key(self) -> Reply | str | None:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return None
        if not key or len(key) > MAX_IDEMPOTENCY_KEY:
            return error_reply("INVALID_IDEMPOTENCY_KEY")
        return key

    def idempotency_scope(self, key: str, api_key: str) -> Scope:
        return (key, api_key, request.path, request.method)

    def fingerprint(self) -> str | None:
        return None  # Toss matches on key, API key, path and method only (reference §5)

    def response_headers(self, outcome: str) -> dict[str, str]:
        return {}

    def in_flight(self) -> Reply:
        return error_reply("IDEMPOTENT_REQUEST_PROCESSING")

    def key_reused(self) -> Reply:
        return error_reply("INVALID_REQUEST")  # unreachable without a fingerprint

    def internal_error(self) -> Reply:
        return error_reply("FAILED_INTERNAL_SYSTEM_PROCESSING")


PROFILE = TossProfile()


def store() -> TossStore:
    return cast(TossStore, current_sandbox().gateways[GATEWAY].state)


def _run(operation: str | None, action: Callable[[], dict[str, Any]]) -> Response:
    def execute() -> Reply:
        try:
            return Reply.json(200, action())
        except TossError as error:
            return error.reply()

    return pipeline.handle(PROFILE, operation, execute)


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise TossError("INVALID_REQUEST", "요청 본문이 올바른 JSON 객체가 아닙니다.")
    return body


def _text(body: dict[str, Any], name: str, max_length: int, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise TossError("INVALID_REQUEST", f"{name} 값이 올바르지 않습니다.")
    return value


def _amount(body: dict[str, Any], name: str, required: bool = True) -> int | None:
    """A positive integer, sent as a JSON number or a numeric string (as Toss accepts)."""
    value = body.get(name)
    if value is None and not required:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise TossError("INVALID_REQUEST", f"{name} 값이 올바르지 않습니다.")
    return value


@bp.post("/v1/payments/confirm")
def confirm() -> Response:
    """https://docs.tosspayments.com/reference#결제-승인"""

    def action() -> dict[str, Any]:
        body = _body()
        payment_key = _text(body, "paymentKey", 200) or ""
        order_id = _text(body, "orderId", 64) or ""
        return store().confirm(payment_key, order_id, _amount(body, "amount") or 0)

    return _run("confirm", action)


@bp.get("/v1/payments/<payment_key>")
def fetch_by_key(payment_key: str) -> Response:
    """https://docs.tosspayments.com/reference#paymentkey로-결제-조회"""
    return _run("fetch", lambda: store().get(payment_key))


@bp.get("/v1/payments/orders/<order_id>")
def fetch_by_order(order_id: str) -> Response:
    """https://docs.tosspayments.com/reference#orderid로-결제-조회"""
    return _run("fetch", lambda: store().get_by_order(order_id))


@bp.post("/v1/payments/<payment_key>/cancel")
def cancel(payment_key: str) -> Response:
    """https://docs.tosspayments.com/reference#결제-취소"""

    def action() -> dict[str, Any]:
        body = _body()
        reason = _text(body, "cancelReason", MAX_CANCEL_REASON) or ""
        currency = body.get("currency")
        if currency is not None and currency != "KRW":
            raise TossError("INVALID_REQUEST", "currency 값이 올바르지 않습니다.")
        amount = _amount(body, "cancelAmount", required=False)
        refundable = body.get("refundableAmount")
        refundable = None if refundable is None else _amount(body, "refundableAmount")
        return store().cancel(payment_key, reason, amount, refundable, body.get("refundReceiveAccount"))

    return _run("cancel", action)


@bp.route("/", defaults={"rest": ""}, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(rest: str) -> Response:
    """Anything else under /toss: Toss's 404 (logged, so a wrong path in the service shows)."""
    return pipeline.refuse(PROFILE, None, error_reply("NOT_FOUND"))
