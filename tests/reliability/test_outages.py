"""Redis or PostgreSQL gone for a while, under a running service: stop the private server, then start it again.

A webhook is acknowledged only once it is stored in PostgreSQL: without Redis it is still stored
and answered 200 (re-drive sends its task later); without PostgreSQL it is refused with 503, so
the gateway delivers it again. Nothing is restarted: web, worker and beat recover on their own.
"""

from __future__ import annotations

import time

from tests.support.stack import Stack, ledger_disagreements
from tests.support.worker import BeatProcess

SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"


def test_webhooks_while_redis_is_down_are_stored_or_refused_and_redriven_after(fresh: Stack):
    stack = fresh
    beat = BeatProcess(stack.env, stack.root / "beat.log").start()  # re-drives every 2 s in the stack
    try:
        buyer = stack.headers("redis-outage@example.com")
        orders = [stack.create_toss(buyer) for _ in range(5)]
        stack.sandbox.webhooks(gateway="toss", paused=True)  # the test delivers them itself
        for order in orders:
            stack.paid_at_toss(order, stack.checkout(order))

        stack.redis.stop()  # no persistence: whatever it held is gone too
        answers = []
        started = time.monotonic()
        for index, order in enumerate(orders):
            for _ in range(3):  # a gateway repeats a delivery it is unsure of
                transmission = f"whtrans_redis_{index}"
                answers.append((transmission, stack.toss_webhook(order["orderId"], transmission).status_code))
        took = time.monotonic() - started
        assert {status for _, status in answers} <= {200, 503}
        stored = {event.event_id.split(":")[0]: event for event in stack.inbox()}
        acknowledged = {transmission for transmission, status in answers if status == 200}
        assert acknowledged <= stored.keys()  # never acknowledged and lost
        assert len(acknowledged) == len(orders), answers  # PostgreSQL was up: every one was stored
        assert took < 30, f"15 deliveries took {took:.1f}s without Redis"
        assert {stack.status(order["orderId"]) for order in orders} == {"PENDING"}

        stack.redis.start()
        for order in orders:
            stack.wait_for_status(order["orderId"], "PAID", timeout=60)
        inbox = stack.inbox()
        assert len(inbox) == len(orders) and {event.state for event in inbox} == {"processed"}
        assert {event.deliveries for event in inbox} == {3}
        for order in orders:
            assert stack.transitions(order["orderId"]) == [("PENDING", "PAID")]
            assert ledger_disagreements(stack.payment(order["orderId"]), stack.ledger(order["orderId"])) == []
    finally:
        beat.stop()


def test_postgresql_down_for_a_moment_is_a_clean_503_and_then_business_as_usual(fresh: Stack):
    stack = fresh
    buyer = stack.headers("pg-outage@example.com")
    order = stack.create_toss(buyer)
    stack.sandbox.webhooks(gateway="toss", paused=True)
    key = stack.checkout(order)

    stack.pg.stop()
    refused = {
        "webhook": stack.toss_webhook(order["orderId"], "whtrans_pg"),
        "read": stack.get(f"/payment/{order['orderId']}", buyer),
        "confirm": stack.confirm(order, key, buyer),
        "create": stack.post("/payment/toss/create", {"productId": "premium_reading"}, buyer),
    }
    for name, answer in refused.items():
        assert answer.status_code == 503, (name, answer.status_code, answer.text)
        error = answer.json()["error"]
        assert error["code"] == SERVICE_UNAVAILABLE and "Traceback" not in answer.text, name
    ready = stack.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["database"] == "fail"

    stack.pg.start()  # same server, same port; web and worker are not restarted
    for _ in range(8):  # reach both gunicorn workers: each one's pool recovers
        assert stack.get(f"/payment/{order['orderId']}", buyer).status_code == 200
    assert stack.get("/readyz").status_code == 200
    assert stack.toss_webhook(order["orderId"], "whtrans_pg").status_code == 200  # the gateway's retry
    paid = stack.confirm(order, key, buyer)
    assert paid.status_code == 200 and paid.json()["status"] == "PAID"
    assert stack.transitions(order["orderId"]) == [("PENDING", "PROCESSING"), ("PROCESSING", "PAID")]
    assert ledger_disagreements(stack.payment(order["orderId"]), stack.ledger(order["orderId"])) == []
    assert [c["executed"] for c in stack.gateway_confirms()].count(True) == 1
