"""A worker killed with SIGKILL mid-task: the task is delivered again and the payment ends as the gateway says.

The worker runs tasks acknowledged late; killed, it acknowledges nothing, so Redis hands the
task out again once BROKER_VISIBILITY_TIMEOUT_SECONDS have passed (the stack uses 8 s). The
sandbox's latency holds the gateway call open so the kill lands while it is in flight.
"""

from __future__ import annotations

import re
import threading
import time

import sqlalchemy as sa

from chatju.fulfilment.models import Entitlement
from tests.support.stack import VISIBILITY_TIMEOUT_SECONDS, Stack, ledger_disagreements, wait_for

# The gateway holds each call 3 s; the worker is killed 1 s after taking the task, while its call is
# held (and before its 2 s read timeout); the gateway still completes the call after the kill.
IN_FLIGHT_MS = 3000
KILL_AFTER_SECONDS = 1.0


def taken(stack: Stack, task: str) -> int:
    return len(re.findall(rf"Task {re.escape(task)}\[[0-9a-f-]+\] received", stack.worker.log()))


def kill_during_the_call(stack: Stack, task: str, seen: int) -> None:
    """Wait until the worker has taken `task`, let its gateway call start, then SIGKILL the worker."""
    wait_for(lambda: taken(stack, task) > seen, 20, f"the worker to take {task}", 0.02)
    time.sleep(KILL_AFTER_SECONDS)
    stack.worker.kill()


def restart_after_visibility(stack: Stack) -> None:
    stack.sandbox.clear_faults()  # the gateway answers promptly again
    time.sleep(VISIBILITY_TIMEOUT_SECONDS + 0.5)  # the unacknowledged task is due again
    stack.worker.start()


def entitlements(stack: Stack) -> int:
    return stack.scalar(sa.select(sa.func.count()).select_from(Entitlement))


def test_a_worker_killed_in_the_middle_of_a_confirm(fresh: Stack):
    stack = fresh
    buyer = stack.headers("killed-confirm@example.com")
    order = stack.create_toss(buyer)
    key = stack.checkout(order)
    stack.sandbox.webhooks(gateway="toss", paused=True)  # only the redelivered task may settle it
    stack.sandbox.fault(gateway="toss", latency_ms=IN_FLIGHT_MS)
    seen = taken(stack, "payments.confirm")
    answer: dict[str, int] = {}
    client = threading.Thread(target=lambda: answer.setdefault("status", stack.confirm(order, key, buyer).status_code))
    client.start()
    kill_during_the_call(stack, "payments.confirm", seen)
    client.join(timeout=20)
    assert answer["status"] == 202  # the customer is told to poll; nothing is lost
    assert stack.status(order["orderId"]) == "PROCESSING"
    restart_after_visibility(stack)
    assert stack.toss_payments()[order["orderId"]]["status"] == "DONE"  # the killed call went through
    stack.wait_for_status(order["orderId"], "PAID")
    confirms = stack.gateway_confirms()
    # The killed worker's call executed at Toss; the redelivered task's call, with the same key, was replayed.
    assert [c["outcome"] for c in confirms] == ["executed", "replayed"]
    assert {c["idempotencyKey"] for c in confirms} == {f"confirm-{order['orderId']}-{key}"}
    assert stack.transitions(order["orderId"]) == [("PENDING", "PROCESSING"), ("PROCESSING", "PAID")]
    assert ledger_disagreements(stack.payment(order["orderId"]), stack.ledger(order["orderId"])) == []
    wait_for(lambda: entitlements(stack) == 1, 20, "the reading to be granted")
    time.sleep(1)
    assert entitlements(stack) == 1


def test_a_worker_killed_in_the_middle_of_a_webhook(fresh: Stack):
    stack = fresh
    order = stack.create_toss(stack.headers("killed-webhook@example.com"))
    stack.sandbox.webhooks(gateway="toss", paused=True)  # the test sends the one webhook itself
    stack.paid_at_toss(order, stack.checkout(order))  # paid at Toss; we have not heard yet
    stack.sandbox.fault(gateway="toss", latency_ms=IN_FLIGHT_MS)  # holds the processing's re-fetch
    seen = taken(stack, "webhooks.process")
    assert stack.toss_webhook(order["orderId"], "whtrans_killed").status_code == 200
    kill_during_the_call(stack, "webhooks.process", seen)
    [event] = stack.inbox()
    assert event.state == "received" and stack.status(order["orderId"]) == "PENDING"

    restart_after_visibility(stack)
    stack.wait_for_status(order["orderId"], "PAID")
    wait_for(lambda: [e.state for e in stack.inbox()] == ["processed"], 20, "the event to be processed")
    fetches = [r for r in stack.sandbox.requests_log(gateway="toss") if r["operation"] == "fetch"]
    assert len(fetches) == 2  # the killed worker's re-fetch, then the redelivered task's
    assert stack.transitions(order["orderId"]) == [("PENDING", "PAID")]
    assert ledger_disagreements(stack.payment(order["orderId"]), stack.ledger(order["orderId"])) == []
    wait_for(lambda: entitlements(stack) == 1, 20, "the reading to be granted")
