"""Refunds (reference §7) and charge lookups.

https://docs.stripe.com/api/refunds
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from sandbox.stripe.api import expansions, origin, params, run, store
from sandbox.stripe.errors import invalid

bp = Blueprint("refunds", __name__)

CREATE = {"payment_intent", "charge", "amount", "reason", "metadata", "expand"}
REASONS = ("duplicate", "fraudulent", "requested_by_customer")
EXPAND = ("charge", "payment_intent")


@bp.post("/v1/refunds")
def create() -> Response:
    """https://docs.stripe.com/api/refunds/create"""

    def action() -> dict[str, Any]:
        given = params(CREATE)
        expand = expansions(given, EXPAND)
        intent_id, charge_id = given.text("payment_intent"), given.text("charge")
        if intent_id is None and charge_id is None:
            raise invalid("One of the following params should be provided for this request: payment_intent or charge.")
        amount, reason, metadata = given.integer("amount"), given.choice("reason", REASONS), given.metadata()
        refund = store().refund(intent_id, charge_id, amount, reason, metadata, origin())
        return store().refund_json(refund, expand)

    return run("refund", action)


@bp.get("/v1/refunds/<refund_id>")
def retrieve(refund_id: str) -> Response:
    """https://docs.stripe.com/api/refunds/retrieve"""
    return run("retrieve", lambda: store().refund_json(refund_id, expansions(params({"expand"}), EXPAND)))


@bp.get("/v1/charges/<charge_id>")
def retrieve_charge(charge_id: str) -> Response:
    """https://docs.stripe.com/api/charges/retrieve"""

    def action() -> dict[str, Any]:
        expansions(params({"expand"}), ())
        return store().get_charge(charge_id)

    return run("retrieve", action)
