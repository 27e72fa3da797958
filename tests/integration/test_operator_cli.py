"""The operator commands, run as an operator runs them: `flask --app wsgi payments|webhooks ...`."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from chatju.db import utcnow
from chatju.extensions import db
from chatju.webhooks.models import WebhookEvent
from tests.support.cli import flask
from tests.support.shopper import wait_until
from tests.support.toss import TossShopper

pytestmark = pytest.mark.usefixtures("worker", "live_server")


@pytest.fixture
def toss(app, client, sandbox, make_user, auth_headers) -> TossShopper:
    return TossShopper(app, client, sandbox, auth_headers(make_user("cli@example.com")))


def paid(toss: TossShopper) -> dict:
    order = toss.create(productId="premium_reading")
    assert toss.confirm(order, toss.checkout(order)["params"]["paymentKey"]).get_json()["status"] == "PAID"
    return order


def test_payments_show_prints_one_timeline(test_env, toss):
    order = paid(toss)
    wait_until(lambda: toss.inbox(order) and toss.inbox(order)[0].state == "processed")
    result = flask(test_env, "payments", "show", order["orderId"])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f'"orderId": "{order["orderId"]}"' in out and '"status": "PAID"' in out
    for kind in ("ledger", "webhook", "gateway", "effect"):
        assert f"  {kind} " in out, kind
    assert "PROCESSING -> PAID" in out and "confirm ok 200" in out
    assert flask(test_env, "payments", "show", "ord_noSuchOrder0000000000").returncode != 0


def test_payments_refund_waits_and_prints_the_outcome(test_env, toss):
    order = paid(toss)
    result = flask(test_env, "payments", "refund", order["orderId"], "--amount", "3000", "--reason", "goodwill")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "succeeded" in result.stdout and "PARTIALLY_REFUNDED, refunded 3000 of 13000 KRW" in result.stdout
    too_much = flask(test_env, "payments", "refund", order["orderId"], "--amount", "20000", "--reason", "x")
    assert too_much.returncode != 0 and "AMOUNT_OUT_OF_RANGE" in too_much.stderr
    assert flask(test_env, "payments", "refund", order["orderId"]).returncode != 0  # --reason is required


def test_payments_reconcile_one_order(test_env, toss, sandbox):
    sandbox.webhooks(gateway="toss", paused=True)
    order = toss.create(productId="premium_reading")
    key = toss.checkout(order)["params"]["paymentKey"]
    toss.toss_confirm(order, key)
    with toss.app.app_context():
        db.session.execute(
            sa.text("UPDATE payments SET status='PROCESSING', attempt_key=:k WHERE order_id=:o"),
            {"k": key, "o": order["orderId"]},
        )
        db.session.commit()
    result = flask(test_env, "payments", "reconcile", order["orderId"])
    assert result.returncode == 0, result.stderr
    assert f"{order['orderId']}: PAID" in result.stdout


def test_webhooks_list_and_replay(app, test_env, toss):
    order = paid(toss)
    wait_until(lambda: toss.inbox(order) and toss.inbox(order)[0].state == "processed")
    with app.app_context():
        event = db.session.execute(sa.select(WebhookEvent)).scalar_one()
        event.state, event.last_error, event.attempts = "failed", "RuntimeError", 6
        event.received_at = utcnow() - timedelta(minutes=5)
        db.session.commit()
        inbox_id, provider_id = event.id, event.event_id
    listed = flask(test_env, "webhooks", "list", "--failed")
    assert listed.returncode == 0 and str(inbox_id) in listed.stdout and "error=RuntimeError" in listed.stdout
    replayed = flask(test_env, "webhooks", "replay", "--failed")
    assert replayed.returncode == 0 and f"replaying 1 event(s): {inbox_id}" in replayed.stdout
    wait_until(lambda: toss.inbox(order)[0].state == "processed")
    assert flask(test_env, "webhooks", "replay", provider_id).returncode == 0
    assert flask(test_env, "webhooks", "replay", "no-such-event").returncode != 0
    assert flask(test_env, "webhooks", "replay").returncode != 0
    assert "no events" in flask(test_env, "webhooks", "list", "--failed").stdout
