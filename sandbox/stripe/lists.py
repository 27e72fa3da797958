"""`GET /stripe/v1/payment_intents`: the list, by `created`, with Stripe's cursor paging.

https://docs.stripe.com/api/payment_intents/list and https://docs.stripe.com/api/pagination:
newest first; `created` is a Unix time or a hash of `gt`, `gte`, `lt`, `lte`; `limit` 1-100
(default 10); `starting_after` / `ending_before` name an object of the list (an unknown one
is `resource_missing`); `expand[]=data.latest_charge`. Unlike search, a new intent is listed at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response

from sandbox.stripe.api import expansions, params, run, store
from sandbox.stripe.errors import invalid, resource_missing
from sandbox.stripe.forms import Params

bp = Blueprint("lists", __name__)

LIST = {"created", "limit", "starting_after", "ending_before", "expand", "customer"}
MAX_PAGE = 100
BOUNDS: dict[str, Callable[[int, int], bool]] = {
    "gt": lambda at, bound: at > bound, "gte": lambda at, bound: at >= bound,
    "lt": lambda at, bound: at < bound, "lte": lambda at, bound: at <= bound,
}  # fmt: skip


@bp.get("/v1/payment_intents")
def list_intents() -> Response:
    """https://docs.stripe.com/api/payment_intents/list"""

    def action() -> dict[str, Any]:
        given = params(LIST)
        expand = expansions(given, ("data.latest_charge",))
        limit = page_limit(given)
        found = store().list_intents(created_filter(given), bool(expand))
        page, more = page_of(found, given.text("starting_after"), given.text("ending_before"), limit, "payment_intent")
        return {"object": "list", "data": page, "has_more": more, "url": "/v1/payment_intents"}

    return run("list", action)


def page_limit(given: Params) -> int:
    limit = given.integer("limit") or 10
    if not 1 <= limit <= MAX_PAGE:
        raise invalid(f"This value must be between 1 and {MAX_PAGE}.", "limit", "parameter_invalid_integer")
    return limit


def created_filter(given: Params) -> Callable[[int], bool]:
    """`created=<t>` or `created[gte]=<t>&created[lt]=<t>` (any of gt, gte, lt, lte) as a test."""
    if "created" not in given:
        return lambda at: True
    if isinstance(given.tree.get("created"), str):
        exact = given.integer("created")
        return lambda at: at == exact
    bounds = given.hash("created", tuple(BOUNDS))
    tests = [(BOUNDS[name], value) for name in BOUNDS if (value := bounds.integer(name)) is not None]
    return lambda at: all(test(at, value) for test, value in tests)


def page_of(
    found: list[dict[str, Any]], after: str | None, before: str | None, limit: int, kind: str
) -> tuple[list[dict[str, Any]], bool]:
    """One page after `after` (or before `before`), and whether more follow in that direction."""
    if after is not None and before is not None:
        raise invalid("You may only specify one of these parameters: ending_before, starting_after.")
    ids = [item["id"] for item in found]
    for cursor, param in ((after, "starting_after"), (before, "ending_before")):
        if cursor is not None and cursor not in ids:
            raise resource_missing(kind, cursor, param)
    if before is not None:
        earlier = found[: ids.index(before)]
        return earlier[-limit:], len(earlier) > limit
    rest = found[ids.index(after) + 1 :] if after is not None else found
    return rest[:limit], len(rest) > limit
