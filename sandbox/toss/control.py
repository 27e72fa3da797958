"""Toss-only control actions, under `/_control/toss`: deposit, forged webhooks, expiry, lost and back-dated payments."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from sandbox.control import ControlError, json_body, required_text, seconds_of
from sandbox.toss import events
from sandbox.toss.api import store
from sandbox.toss.errors import TossError
from sandbox.toss.store import StateError

bp = Blueprint("toss_control", __name__)

EVENT_TYPES = (events.STATUS_CHANGED, events.DEPOSIT_CALLBACK)


@bp.errorhandler(TossError)
def _no_payment(error: TossError) -> tuple[Response, int]:
    return jsonify(code=error.code, message="no payment for this orderId"), 404


@bp.errorhandler(StateError)
def _wrong_state(error: StateError) -> tuple[Response, int]:
    return jsonify(code="INVALID_STATE", message=str(error)), 409


@bp.post("/deposit")
def deposit() -> Response:
    """The customer pays into the order's virtual account (WAITING_FOR_DEPOSIT → DONE)."""
    order_id = required_text(json_body({"orderId"}), "orderId")
    return jsonify(store().deposit(order_id))


@bp.post("/expire")
def expire() -> Response:
    """The order's IN_PROGRESS payments expire now, as after the confirm window."""
    order_id = required_text(json_body({"orderId"}), "orderId")
    return jsonify(store().expire(order_id))


@bp.post("/webhook")
def send_webhook() -> Response:
    """Send a webhook for the order's current payment now, `status` optionally a lie."""
    body = json_body({"orderId", "eventType", "status"})
    order_id = required_text(body, "orderId")
    event_type = body.get("eventType") or events.STATUS_CHANGED
    if event_type not in EVENT_TYPES:
        raise ControlError(f"eventType must be one of {', '.join(EVENT_TYPES)}")
    status = body.get("status")
    if status is not None and not isinstance(status, str):
        raise ControlError("status must be a string")
    return jsonify(transmissionId=store().send_webhook(order_id, event_type, status))


@bp.post("/forget")
def forget() -> Response:
    """Toss loses the order's payments and their transactions (a payment we hold that Toss does not)."""
    order_id = required_text(json_body({"orderId"}), "orderId")
    return jsonify(paymentKeys=store().forget(order_id))


@bp.post("/backdate")
def backdate() -> Response:
    """Move the order's payments and transactions `seconds` into the past (a payment of yesterday)."""
    body = json_body({"orderId", "seconds"})
    return jsonify(store().backdate(required_text(body, "orderId"), seconds_of(body)))


@bp.get("/payments")
def payments() -> Response:
    """Every Toss payment the sandbox holds (for debugging)."""
    return jsonify(store().payments())
