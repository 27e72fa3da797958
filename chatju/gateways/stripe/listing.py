"""Stripe's payment intents and refunds of a window as the port's payments, for the drift report.

Lists, not search (search lags writes by up to an hour): PaymentIntents by `created`
(https://docs.stripe.com/api/payment_intents/list) and Refunds by `created`
(https://docs.stripe.com/api/refunds/list), each paged with `starting_after=<the last id>`
while `has_more` (https://docs.stripe.com/api/pagination).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from chatju.gateways.port import GatewayPayment, TransientGatewayError, Window
from chatju.gateways.stripe.client import StripeApi
from chatju.gateways.stripe.mapping import to_payment, unix_time

MAX_PAGE = 100  # Stripe's largest `limit`
# An intent is listed by when it was created; one created the day before and paid in the window
# is still found by listing from a day earlier.
LOOKBACK = timedelta(days=1)
Pager = Callable[[int, int, str | None, int], dict[str, Any]]


def list_payments(api: StripeApi, window: Window, page_size: int) -> list[GatewayPayment]:
    """Each intent created or paid in `window`, and each intent refunded in it, as it stands now."""
    found: dict[str, GatewayPayment] = {}
    for intent in _objects(api.page_intents, window.since - LOOKBACK, window.until, page_size):
        seen = to_payment(intent)
        if window.holds(unix_time(intent.get("created"))) or window.holds(seen.approved_at):
            found[seen.reference] = seen
    refunded = {r.get("payment_intent") for r in _objects(api.page_refunds, window.since, window.until, page_size)}
    for intent_id in sorted(i for i in refunded if isinstance(i, str) and i and i not in found):
        found[intent_id] = api.retrieve_intent(intent_id)  # created earlier: retrieved whole (refunds are few)
    return list(found.values())


def _objects(page: Pager, since: datetime, until: datetime, page_size: int) -> Iterator[dict[str, Any]]:
    """Every object of a list, page after page."""
    limit = max(1, min(page_size, MAX_PAGE))
    after: str | None = None
    while True:
        body = page(int(since.timestamp()), _ceiling(until), after, limit)
        data = body.get("data")
        if not isinstance(data, list) or not all(isinstance(item, dict) and item.get("id") for item in data):
            raise TransientGatewayError("INVALID_RESPONSE", "Stripe answered a list without its objects.", 200)
        yield from data
        if not body.get("has_more") or not data:
            return
        after = str(data[-1]["id"])


def _ceiling(at: datetime) -> int:
    """`created[lt]` in whole seconds that still takes in every second the window reaches into."""
    seconds = at.timestamp()
    return int(seconds) if seconds == int(seconds) else int(seconds) + 1
