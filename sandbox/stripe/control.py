"""Stripe-only control actions, under `/_control/stripe`: async payments, disputes, forged events, lost
and back-dated intents."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from sandbox.control import ControlError, json_body, required_text, seconds_of
from sandbox.stripe import events
from sandbox.stripe.api import store
from sandbox.stripe.errors import StripeError
from sandbox.stripe.store import StateError

bp = Blueprint("stripe_control", __name__)

DISPUTE_REASONS = (
    "bank_cannot_process", "check_returned", "credit_not_processed", "customer_initiated", "debit_not_authorized",
    "duplicate", "fraudulent", "general", "incorrect_account_details", "insufficient_funds", "product_not_received",
    "product_unacceptable", "subscription_canceled", "unrecognized",
)  # fmt: skip
EVENT_TYPES = events.PAYMENT_INTENT_EVENTS + events.CHARGE_EVENTS + events.REFUND_EVENTS + events.DISPUTE_EVENTS


@bp.errorhandler(StripeError)
def _no_intent(error: StripeError) -> tuple[Response, int]:
    return jsonify(code="NOT_FOUND", message=error.message), 404


@bp.errorhandler(StateError)
def _wrong_state(error: StateError) -> tuple[Response, int]:
    return jsonify(code="INVALID_STATE", message=str(error)), 409


def _intent_id(body: dict[str, Any]) -> str:
    return required_text(body, "payment_intent")


@bp.post("/process")
def process() -> Response:
    """requires_payment_method → processing (`payment_intent.processing`)."""
    return jsonify(store().process(_intent_id(json_body({"payment_intent"}))))


@bp.post("/succeed")
def succeed() -> Response:
    """processing or requires_payment_method → succeeded, as if paid with 4242 (charge and events)."""
    intent_id = _intent_id(json_body({"payment_intent"}))
    return jsonify(store().succeed(intent_id, request.host_url.rstrip("/")))


@bp.post("/dispute")
def dispute() -> Response:
    """The customer disputes the intent's charge: a Dispute and `charge.dispute.created`."""
    body = json_body({"payment_intent", "reason"})
    reason = body.get("reason", "fraudulent")
    if reason not in DISPUTE_REASONS:
        raise ControlError(f"reason must be one of {', '.join(DISPUTE_REASONS)}")
    return jsonify(store().dispute(_intent_id(body), reason))


@bp.post("/event")
def send_event() -> Response:
    """Send an event of `type` about the intent's current objects, `object` fields overriding; no change."""
    body = json_body({"payment_intent", "type", "object"})
    event_type = required_text(body, "type")
    if event_type not in EVENT_TYPES:
        raise ControlError(f"type must be one of {', '.join(EVENT_TYPES)}")
    overrides = body.get("object") or {}
    if not isinstance(overrides, dict):
        raise ControlError("object must be a JSON object (fields to override)")
    return jsonify(id=store().send_event(_intent_id(body), event_type, overrides))


@bp.post("/forget")
def forget() -> Response:
    """Stripe loses the intent with its charges and refunds (a payment we hold that Stripe does not)."""
    intent_id = _intent_id(json_body({"payment_intent"}))
    store().forget(intent_id)
    return jsonify(forgotten=intent_id)


@bp.post("/backdate")
def backdate() -> Response:
    """The intent, its charges and refunds were made `seconds` earlier (whole seconds, as Stripe counts)."""
    body = json_body({"payment_intent", "seconds"})
    return jsonify(store().backdate(_intent_id(body), int(seconds_of(body))))


@bp.get("/intents")
def intents() -> Response:
    """Every PaymentIntent the sandbox holds, latest charge expanded (for debugging)."""
    return jsonify(store().intents())
