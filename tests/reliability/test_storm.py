"""A storm: 200 concurrent confirms and 1,000 duplicate webhook deliveries across 50 orders, interleaved.

Over HTTP to gunicorn (2 workers x 8 threads), from 32 client threads at once, while the sandbox
also sends, and duplicates, its own webhooks. Every order must end paid exactly once: one
confirmation at the gateway, one unbroken ledger that adds up to the row, one reading granted.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from chatju.fulfilment.models import Entitlement
from tests.support.stack import Stack, ledger_disagreements, wait_for

ORDERS = 50
CONFIRMS_PER_ORDER = 4  # 200 confirms
TRANSMISSIONS_PER_ORDER = 2
DELIVERIES_PER_TRANSMISSION = 10  # 1,000 webhook deliveries

pytestmark = pytest.mark.slow


def test_a_storm_of_confirms_and_duplicate_webhooks_pays_each_order_once(fresh: Stack):
    stack = fresh
    buyer = stack.headers("storm@example.com")
    orders = [stack.create_toss(buyer) for _ in range(ORDERS)]
    keys = {order["orderId"]: stack.checkout(order) for order in orders}
    stack.sandbox.webhooks(gateway="toss", duplicate=True)  # the gateway's own deliveries, twice each

    calls: list[tuple[str, dict[str, Any]]] = []
    for order in orders:
        calls += [("confirm", order)] * CONFIRMS_PER_ORDER
        for n in range(TRANSMISSIONS_PER_ORDER):
            calls += [("webhook", {**order, "transmission": f"whtrans_{order['orderId']}_{n}"})] * (
                DELIVERIES_PER_TRANSMISSION
            )
    random.Random(9).shuffle(calls)
    local = threading.local()

    def send(call: tuple[str, dict[str, Any]]) -> tuple[str, int]:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        kind, order = call
        if kind == "webhook":
            return kind, stack.toss_webhook(order["orderId"], order["transmission"], session).status_code
        body = {"paymentKey": keys[order["orderId"]], "orderId": order["orderId"], "amount": order["amount"]}
        return kind, session.post(
            f"{stack.web.url}/payment/toss/confirm", json=body, headers=buyer, timeout=60
        ).status_code

    with ThreadPoolExecutor(max_workers=32) as pool:
        answers = Counter(pool.map(send, calls))
    assert set(answers) <= {("confirm", 200), ("confirm", 202), ("webhook", 200)}, answers
    assert answers[("webhook", 200)] == ORDERS * TRANSMISSIONS_PER_ORDER * DELIVERIES_PER_TRANSMISSION

    for order in orders:
        stack.wait_for_status(order["orderId"], "PAID", timeout=120)
    per_order = Counter(c["idempotencyKey"] for c in stack.gateway_confirms() if c["executed"])
    assert per_order == Counter({f"confirm-{o['orderId']}-{keys[o['orderId']]}": 1 for o in orders})
    truth = stack.toss_payments()
    for order in orders:
        order_id = order["orderId"]
        assert (truth[order_id]["status"], truth[order_id]["totalAmount"]) == ("DONE", order["amount"])
        assert stack.transitions(order_id) == [("PENDING", "PROCESSING"), ("PROCESSING", "PAID")]
        assert ledger_disagreements(stack.payment(order_id), stack.ledger(order_id)) == []

    ours = [e for e in stack.inbox() if e.event_id.startswith("whtrans_ord")]
    assert len(ours) == ORDERS * TRANSMISSIONS_PER_ORDER  # each delivery stored once, its repeats counted
    assert sum(e.deliveries for e in ours) == ORDERS * TRANSMISSIONS_PER_ORDER * DELIVERIES_PER_TRANSMISSION
    wait_for(lambda: {e.state for e in stack.inbox()} == {"processed"}, 60, "every event to be processed")
    granted = sa.select(sa.func.count()).select_from(Entitlement)
    wait_for(lambda: stack.scalar(granted) == ORDERS, 60, "one reading per order")
