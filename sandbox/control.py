"""The control API under `/_control`: reset, fault injection, webhook knobs, logs.

JSON in and out, no authentication: the sandbox must only ever listen on 127.0.0.1.

    GET    /_control/health
    POST   /_control/reset                 payments, keys, faults, webhook knobs and logs
    GET    /_control/faults
    POST   /_control/faults                {gateway, mode: error500|timeout|drop|malformed
                                            (|error500_saved|error500_saved_executed for stripe),
                                            count=1, operation=null, seconds} and/or {gateway, latency_ms}
    DELETE /_control/faults[?gateway=]
    GET    /_control/webhooks              the knobs of every gateway
    POST   /_control/webhooks              {gateway, url?, duplicate?, delay_seconds?, reorder?, paused?, senders?}
    GET    /_control/webhooks/log[?gateway=]
    GET    /_control/requests[?gateway=]
    POST   /_control/toss/deposit          {orderId}
    POST   /_control/toss/expire           {orderId}
    POST   /_control/toss/webhook          {orderId, eventType?, status?}
    POST   /_control/toss/forget           {orderId}: Toss loses the order's payments and transactions
    POST   /_control/toss/backdate         {orderId, seconds}: its payments and transactions happened earlier
    GET    /_control/toss/payments
    POST   /_control/stripe/process        {payment_intent}
    POST   /_control/stripe/succeed        {payment_intent}
    POST   /_control/stripe/dispute        {payment_intent, reason?}
    POST   /_control/stripe/event          {payment_intent, type, object?}
    POST   /_control/stripe/forget         {payment_intent}: Stripe loses the intent, its charges and refunds
    POST   /_control/stripe/backdate       {payment_intent, seconds}: the intent, charges and refunds happened earlier
    GET    /_control/stripe/intents
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from sandbox.faults import Fault
from sandbox.state import Gateway, current_sandbox

bp = Blueprint("control", __name__, url_prefix="/_control")

FAULT_FIELDS = {"gateway", "mode", "count", "operation", "seconds", "latency_ms"}
WEBHOOK_FIELDS = {"gateway", "url", "duplicate", "delay_seconds", "reorder", "paused", "senders"}
MAX_SENDERS = 64


class ControlError(Exception):
    """A bad control request: answered `{"code", "message"}` with `status`."""

    def __init__(self, message: str, status: int = 400, code: str = "INVALID_REQUEST") -> None:
        super().__init__(message)
        self.message, self.status, self.code = message, status, code


@bp.app_errorhandler(ControlError)  # also for the gateways' own control routes
def _control_error(error: ControlError) -> tuple[Response, int]:
    return jsonify(code=error.code, message=error.message), error.status


def json_body(allowed: set[str] | None = None) -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None and not request.get_data():
        body = {}
    if not isinstance(body, dict):
        raise ControlError("the body must be a JSON object")
    unknown = sorted(set(body) - allowed) if allowed is not None else []
    if unknown:
        raise ControlError(f"unknown fields: {', '.join(unknown)}")
    return body


def required_text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ControlError(f"{name} is required (a string)")
    return value


def seconds_of(body: dict[str, Any]) -> float:
    """A back-dating's `seconds`: a number above 0."""
    seconds = _number(body, "seconds", 0)
    if seconds <= 0:
        raise ControlError("seconds must be a number > 0")
    return seconds


def _number(body: dict[str, Any], name: str, default: float) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ControlError(f"{name} must be a number >= 0")
    return float(value)


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body[name]
    if not isinstance(value, bool):
        raise ControlError(f"{name} must be true or false")
    return value


def _gateway(name: object) -> Gateway:
    gateways = current_sandbox().gateways
    if not isinstance(name, str) or name not in gateways:
        raise ControlError(f"gateway must be one of {', '.join(sorted(gateways))}")
    return gateways[name]


def _gateway_filter() -> str | None:
    name = request.args.get("gateway")
    return None if name is None else _gateway(name).name


@bp.get("/health")
def health() -> Response:
    return jsonify(status="ok", gateways=sorted(current_sandbox().gateways))


@bp.post("/reset")
def reset() -> Response:
    current_sandbox().reset()
    return jsonify(reset=True)


@bp.get("/faults")
def faults() -> Response:
    return jsonify(current_sandbox().faults.describe())


@bp.post("/faults")
def add_fault() -> Response:
    body = json_body(FAULT_FIELDS)
    gateway = _gateway(body.get("gateway"))
    board = current_sandbox().faults
    if "mode" not in body and "latency_ms" not in body:
        raise ControlError(f"give a mode ({', '.join(gateway.fault_modes)}) or latency_ms")
    if "latency_ms" in body:
        board.set_latency(gateway.name, int(_number(body, "latency_ms", 0)))
    if "mode" in body:
        board.add(_read_fault(gateway, body))
    return jsonify(board.describe())


def _read_fault(gateway: Gateway, body: dict[str, Any]) -> Fault:
    mode = body["mode"]
    if mode not in gateway.fault_modes:
        raise ControlError(f"mode must be one of {', '.join(gateway.fault_modes)} for {gateway.name}")
    count = body.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ControlError("count must be an integer >= 1")
    operation = body.get("operation")
    if operation is not None and operation not in gateway.operations:
        raise ControlError(f"operation must be null or one of {', '.join(sorted(gateway.operations))}")
    seconds = _number(body, "seconds", 0)
    if mode == "timeout" and seconds <= 0:
        raise ControlError("a timeout fault needs seconds > 0 (how long the request is held)")
    return Fault(gateway.name, mode, count, operation, seconds)


@bp.delete("/faults")
def clear_faults() -> Response:
    board = current_sandbox().faults
    board.clear(_gateway_filter())
    return jsonify(board.describe())


@bp.get("/webhooks")
def webhook_settings() -> Response:
    gateways = current_sandbox().gateways.values()
    return jsonify({g.name: g.webhooks.settings().to_json() for g in gateways})


@bp.post("/webhooks")
def configure_webhooks() -> Response:
    body = json_body(WEBHOOK_FIELDS)
    gateway = _gateway(body.get("gateway"))
    changes: dict[str, Any] = {name: _flag(body, name) for name in ("duplicate", "reorder", "paused") if name in body}
    if "delay_seconds" in body:
        changes["delay_seconds"] = _number(body, "delay_seconds", 0)
    if "senders" in body:
        senders = body["senders"]
        if isinstance(senders, bool) or not isinstance(senders, int) or not 1 <= senders <= MAX_SENDERS:
            raise ControlError(f"senders must be a whole number from 1 to {MAX_SENDERS}")
        changes["senders"] = senders
    if "url" in body:
        url = required_text(body, "url")
        if not url.startswith(("http://", "https://")):
            raise ControlError("url must be an http(s) URL")
        changes["url"] = url
    return jsonify(gateway.webhooks.configure(**changes).to_json())


@bp.get("/webhooks/log")
def webhook_log() -> Response:
    return jsonify(current_sandbox().deliveries.entries(_gateway_filter()))


@bp.get("/requests")
def request_log() -> Response:
    return jsonify(current_sandbox().requests.entries(_gateway_filter()))
