"""Refunds (reference §7) and charge lookups.

https://docs.stripe.com/api/refunds
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from sandbox.stripe.api import expansions, origin, params, run, store
from sandbox.stripe.errors import invalid, resource_missing
from sandbox.stripe.lists import created_filter

bp = Blueprint("refunds", __name__)

CREATE = {"payment_intent", "charge", "amount", "reason", "metadata", "expand"}
LIST = {"payment_intent", "charge", "created", "limit", "starting_after", "ending_before"}
MAX_PAGE = 100
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


@bp.get("/v1/refunds")
def list_refunds() -> Response:
    """https://docs.stripe.com/api/refunds/list: newest first, filtered by `payment_intent`, `charge`, `created`."""

    def action() -> dict[str, Any]:
        given = params(LIST)
        limit = given.integer("limit") or 10
        if not 1 <= limit <= MAX_PAGE:
            raise invalid(f"This value must be between 1 and {MAX_PAGE}.", "limit", "parameter_invalid_integer")
        created = created_filter(given)
        found = [
            r for r in store().list_refunds(given.text("payment_intent"), given.text("charge")) if created(r["created"])
        ]
        page = _page(found, given.text("starting_after"), given.text("ending_before"), limit)
        more = len(page) > limit
        page = page[:limit] if given.text("ending_before") is None else page[-limit:]
        return {"object": "list", "data": page, "has_more": more, "url": "/v1/refunds"}

    return run("list", action)


def _page(found: list[dict[str, Any]], after: str | None, before: str | None, limit: int) -> list[dict[str, Any]]:
    """One more than a page after `after` (or before `before`), so the caller sees whether more follow."""
    if after is not None and before is not None:
        raise invalid("You may only specify one of these parameters: ending_before, starting_after.")
    ids = [refund["id"] for refund in found]
    for cursor, param in ((after, "starting_after"), (before, "ending_before")):
        if cursor is not None and cursor not in ids:
            raise resource_missing("refund", cursor, param)
    if after is not None:
        return found[ids.index(after) + 1 :][: limit + 1]
    if before is not None:
        return found[: ids.index(before)][-(limit + 1) :]
    return found[: limit + 1]


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
