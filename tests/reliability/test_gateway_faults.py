"""The gateway misbehaving: slow past the read timeout, 500s, dropped connections, unreadable answers.

Each retry reuses the operation's one idempotency key, so the gateway executes the operation
at most once; when the retries run out the worker asks the gateway what happened, and what is
still unknown stays PROCESSING for reconciliation. Nothing ends FAILED by guess.
"""

from __future__ import annotations

import sqlalchemy as sa

from chatju.extensions import db
from chatju.gateways.models import GatewayCall
from tests.support.cli import flask
from tests.support.stack import Stack, ledger_disagreements, wait_for


def confirm_outcomes(stack: Stack) -> list[str]:
    """Our own audit trail of the confirm calls (gateway_calls)."""
    with stack.flask.app_context():
        query = sa.select(GatewayCall.outcome).where(GatewayCall.operation == "confirm").order_by(GatewayCall.id)
        return list(db.session.execute(query).scalars())


def clean_worker_log(stack: Stack) -> None:
    """No task died of an exception nobody handled."""
    log = stack.worker.log()
    assert "Traceback" not in log and "raised unexpected" not in log


def test_every_kind_of_fault_on_one_confirm_charges_once(fresh: Stack):
    stack = fresh
    buyer = stack.headers("faults@example.com")
    order = stack.create_toss(buyer)
    key = stack.checkout(order)
    stack.sandbox.webhooks(gateway="toss", paused=True)
    # Try 1 executes at Toss but answers after our 2 s read timeout; tries 2 and 3 fail in front
    # (500, dropped connection); try 4 gets its replayed answer cut short. Retries are spent.
    stack.sandbox.fault(gateway="toss", mode="timeout", seconds=3, operation="confirm")
    for mode in ("error500", "drop", "malformed"):
        stack.sandbox.fault(gateway="toss", mode=mode, operation="confirm")
    assert stack.confirm(order, key, buyer).status_code in (200, 202)

    stack.wait_for_status(order["orderId"], "PAID")  # the worker asked Toss, which had confirmed
    confirms = stack.gateway_confirms()
    assert [c["outcome"] for c in confirms] == ["injected_timeout", "injected_error500", "dropped", "malformed"]
    assert [c["executed"] for c in confirms].count(True) == 1  # one charge
    assert {c["idempotencyKey"] for c in confirms} == {f"confirm-{order['orderId']}-{key}"}
    assert confirm_outcomes(stack) == ["timeout", "error", "connection_error", "error"]
    assert stack.transitions(order["orderId"]) == [("PENDING", "PROCESSING"), ("PROCESSING", "PAID")]
    assert ledger_disagreements(stack.payment(order["orderId"]), stack.ledger(order["orderId"])) == []
    clean_worker_log(stack)


def test_an_unreadable_refusal_is_asked_again_and_ends_failed(fresh: Stack):
    stack = fresh
    buyer = stack.headers("declined@example.com")
    order = stack.create_toss(buyer)
    key = stack.checkout(order, card="reject")
    stack.sandbox.webhooks(gateway="toss", paused=True)  # the confirm's own retry must settle it
    stack.sandbox.fault(gateway="toss", mode="malformed", operation="confirm")
    answer = stack.confirm(order, key, buyer)
    assert answer.status_code == 200 and answer.json()["status"] == "FAILED"
    assert answer.json()["failure"]["code"] == "REJECT_CARD_PAYMENT"
    assert [(c["outcome"], c["executed"]) for c in stack.gateway_confirms()] == [
        ("malformed", True),
        ("replayed", False),
    ]
    assert stack.transitions(order["orderId"]) == [("PENDING", "PROCESSING"), ("PROCESSING", "FAILED")]
    clean_worker_log(stack)


def test_a_confirm_still_unknown_is_left_processing_and_reconciliation_settles_it(fresh: Stack):
    stack = fresh
    buyer = stack.headers("unknown@example.com")
    order = stack.create_toss(buyer)
    key = stack.checkout(order)
    stack.sandbox.webhooks(gateway="toss", paused=True)
    # The first try executes but its answer is lost; every later call, the re-fetch included, gets 500.
    stack.sandbox.fault(gateway="toss", mode="timeout", seconds=2.5, operation="confirm")
    stack.sandbox.fault(gateway="toss", mode="error500", count=100)
    assert stack.confirm(order, key, buyer).status_code == 202
    calls = 4 + 1  # four confirm tries and the re-fetch that decides nothing
    wait_for(lambda: len(stack.sandbox.requests_log(gateway="toss")) >= calls, 30, "the retries to run out")
    assert stack.status(order["orderId"]) == "PROCESSING"  # unknown: not guessed
    assert stack.toss_payments()[order["orderId"]]["status"] == "DONE"

    stack.sandbox.clear_faults()
    reconcile = flask(stack.env, "payments", "reconcile", order["orderId"])  # what beat runs, by hand
    assert reconcile.returncode == 0, reconcile.stderr
    assert stack.status(order["orderId"]) == "PAID"
    assert [c["executed"] for c in stack.gateway_confirms()].count(True) == 1
    assert ledger_disagreements(stack.payment(order["orderId"]), stack.ledger(order["orderId"])) == []
    clean_worker_log(stack)


def test_a_stripe_create_answered_unreadably_is_not_failed_by_guess(fresh: Stack):
    stack = fresh
    buyer = stack.headers("stripe-faults@example.com")
    stack.sandbox.fault(gateway="stripe", mode="malformed", operation="create_intent")
    created = stack.post("/payment/stripe/create", {"productId": "premium_reading"}, buyer)
    assert created.status_code in (201, 202), created.text
    order_id = created.json()["orderId"]
    wait_for(lambda: stack.payment(order_id).payment_intent_id is not None, 30, "the intent to be bound")
    [intent] = stack.sandbox.stripe_intents()
    payment = stack.payment(order_id)
    assert (payment.status, payment.payment_intent_id) == ("PENDING", intent["id"])
    log = [r for r in stack.sandbox.requests_log(gateway="stripe") if r["operation"] == "create_intent"]
    assert [(r["outcome"], r["executed"]) for r in log] == [("malformed", True), ("replayed", False)]
    assert {r["idempotencyKey"] for r in log} == {f"create-{order_id}"}
    clean_worker_log(stack)
