"""PaymentIntents: create, retrieve, search, cancel (reference §1).

https://docs.stripe.com/api/payment_intents
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from sandbox.stripe.api import expansions, origin, params, run, store
from sandbox.stripe.errors import StripeError, invalid, missing_parameter
from sandbox.stripe.forms import Params
from sandbox.stripe.money import CURRENCIES, MAX_AMOUNT, MINIMUMS, format_with_code
from sandbox.stripe.objects import Intent, new_id
from sandbox.stripe.search import compile_query

bp = Blueprint("intents", __name__)

CREATE = {"amount", "currency", "automatic_payment_methods", "metadata", "description", "receipt_email",
          "confirm", "payment_method_types", "expand"}  # fmt: skip
CANCELLATION_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
EXPAND = ("latest_charge",)
MAX_DESCRIPTION = 1000
MAX_PAGE = 100
PAGE_PREFIX = "page_"


@bp.post("/v1/payment_intents")
def create() -> Response:
    """https://docs.stripe.com/api/payment_intents/create"""

    def action() -> dict[str, Any]:
        given = params(CREATE)
        expansions(given, EXPAND)  # latest_charge is null on a new intent
        amount, currency = _amount(given)
        types, automatic = _payment_methods(given)
        if given.boolean("confirm"):
            message = "The sandbox confirms PaymentIntents on its hosted page (/stripe/pay), not with confirm=true."
            raise invalid(message, "confirm")
        description, email = given.text("description", MAX_DESCRIPTION), given.email("receipt_email")
        intent = Intent(new_id("pi_"), amount, currency, given.metadata(), description, email, types, automatic)
        return store().create_intent(intent)

    return run("create_intent", action)


@bp.get("/v1/payment_intents/search")
def search() -> Response:
    """https://docs.stripe.com/api/payment_intents/search"""

    def action() -> dict[str, Any]:
        given = params({"query", "limit", "page", "expand"})
        expand = expansions(given, ("data.latest_charge",))
        matches = compile_query(given.text("query", required=True) or "")
        limit = given.integer("limit") or 10
        if limit > MAX_PAGE:
            raise invalid(f"This value must be less than or equal to {MAX_PAGE}.", "limit", "parameter_invalid_integer")
        offset = _page(given.text("page"))
        found, more = store().search(matches, offset, limit, bool(expand))
        return {
            "object": "search_result", "data": found, "has_more": more,
            "next_page": f"{PAGE_PREFIX}{offset + limit}" if more else None, "url": "/v1/payment_intents/search",
        }  # fmt: skip

    return run("search", action)


@bp.get("/v1/payment_intents/<intent_id>")
def retrieve(intent_id: str) -> Response:
    """https://docs.stripe.com/api/payment_intents/retrieve"""

    def action() -> dict[str, Any]:
        expand = expansions(params({"expand"}), EXPAND)
        return store().get_intent(intent_id, bool(expand))

    return run("retrieve", action)


@bp.post("/v1/payment_intents/<intent_id>/cancel")
def cancel(intent_id: str) -> Response:
    """https://docs.stripe.com/api/payment_intents/cancel"""

    def action() -> dict[str, Any]:
        given = params({"cancellation_reason", "expand"})
        expand = expansions(given, EXPAND)
        reason = given.choice("cancellation_reason", CANCELLATION_REASONS)
        return store().cancel(intent_id, reason, origin(), bool(expand))

    return run("cancel", action)


def _amount(given: Params) -> tuple[int, str]:
    amount = given.integer("amount", required=True) or 0
    raw = given.text("currency", required=True) or ""
    currency = raw.lower()
    if currency not in CURRENCIES:
        supported = ", ".join(CURRENCIES)
        raise invalid(f"Invalid currency: {raw}. The sandbox supports these currencies: {supported}", "currency")
    if amount > MAX_AMOUNT:
        message = f"Amount must be no more than {format_with_code(MAX_AMOUNT, currency)}"
        raise StripeError(400, message, code="amount_too_large", param="amount", validation=True)
    if amount < MINIMUMS[currency]:
        message = f"Amount must be at least {format_with_code(MINIMUMS[currency], currency)}"
        raise StripeError(400, message, code="amount_too_small", param="amount", validation=True)
    return amount, currency


def _payment_methods(given: Params) -> tuple[list[str], dict[str, Any] | None]:
    """`payment_method_types` (card only) or `automatic_payment_methods` (the default)."""
    automatic = given.hash("automatic_payment_methods", ("enabled", "allow_redirects"))
    types = given.strings("payment_method_types")
    if automatic.tree and "enabled" not in automatic:
        raise missing_parameter("automatic_payment_methods[enabled]")
    enabled = automatic.boolean("enabled")
    redirects = automatic.choice("allow_redirects", ("always", "never")) or "always"
    if types and enabled:
        message = "You may only specify one of these parameters: automatic_payment_methods, payment_method_types."
        raise invalid(message, "automatic_payment_methods")
    for index, name in enumerate(types or []):
        if name != "card":
            message = f"The payment method type {name!r} is invalid: the sandbox supports only card."
            raise invalid(message, f"payment_method_types[{index}]")
    if types or enabled is False:
        return ["card"], None
    return ["card"], {"enabled": True, "allow_redirects": redirects}


def _page(token: str | None) -> int:
    if token is None:
        return 0
    offset = token.removeprefix(PAGE_PREFIX)
    if not token.startswith(PAGE_PREFIX) or not offset.isdigit():
        raise invalid(f"Invalid page: {token}", "page")
    return int(offset)
