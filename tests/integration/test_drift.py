"""The drift report end to end: differences planted in the sandbox, found by `flask payments drift`
(and by the beat job through a real worker), flagged once, stored and counted in /metrics."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import stripe

import celeryconfig
from chatju.db import utcnow
from chatju.extensions import db
from chatju.gateways.models import GatewayCall
from chatju.jobs import TaskNames, queue_for, send
from chatju.payments.drift.models import DriftDifference, DriftRun
from chatju.payments.models import Payment, PaymentEvent
from chatju.settings import current_settings
from chatju.states import LedgerKind
from tests.integration.test_metrics import scrape, value
from tests.support.cli import flask
from tests.support.shopper import wait_until
from tests.support.stripe import StripeShopper
from tests.support.toss import TossShopper

pytestmark = pytest.mark.usefixtures("worker", "live_server")
DAY = 86400


@pytest.fixture
def toss(app, client, sandbox, make_user, auth_headers) -> TossShopper:
    return TossShopper(app, client, sandbox, auth_headers(make_user("drift-toss@example.com")))


@pytest.fixture
def stripe_shopper(app, client, sandbox, make_user, auth_headers) -> StripeShopper:
    return StripeShopper(app, client, sandbox, auth_headers(make_user("drift-stripe@example.com")))


@pytest.fixture
def stripe_api(sandbox) -> stripe.StripeClient:
    return stripe.StripeClient(sandbox.stripe_secret_key, base_addresses={"api": sandbox.stripe_api_base})


def drift(test_env: dict[str, str], *args: str, **env: str) -> Any:
    return flask({**test_env, **env}, "payments", "drift", *args)


def said(result: Any) -> list[str]:
    """What the command told the operator on stderr, less the JSON log lines that share it."""
    return [line for line in result.stderr.splitlines() if not line.startswith("{")]


def around_now(minutes: int = 10) -> tuple[str, ...]:
    now = utcnow()
    return ("--since", iso(now - timedelta(minutes=minutes)), "--until", iso(now + timedelta(minutes=1)))


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def unknown_order() -> str:
    return "ord_unknown" + secrets.token_hex(8)


def toss_paid(toss: TossShopper) -> dict[str, Any]:
    order = toss.create(productId="premium_reading")
    key = toss.checkout(order)["params"]["paymentKey"]
    assert toss.confirm(order, key).get_json()["status"] == "PAID"
    return {**order, "paymentKey": key}


def toss_paid_elsewhere(toss: TossShopper, order_id: str, amount: int = 5000) -> str:
    """A Toss payment for an order we never created: checkout and confirm straight at Toss."""
    key = toss.sandbox.checkout(order_id=order_id, amount=amount)["params"]["paymentKey"]
    toss.toss_confirm({"orderId": order_id, "amount": amount}, key)
    return key


def stripe_paid(shopper: StripeShopper) -> dict[str, Any]:
    order = shopper.create(productId="premium_reading")
    assert shopper.pay(order)["url"] == "succeeded"
    shopper.wait_for(order, "PAID")
    return order


def stripe_paid_elsewhere(sandbox, api: stripe.StripeClient, order_id: str, amount: int = 1500) -> str:
    params: Any = {"amount": amount, "currency": "usd", "metadata": {"order_id": order_id}}
    intent_id = api.v1.payment_intents.create(params=params).id
    sandbox.stripe_succeed(intent_id)
    return intent_id


def pause_webhooks(sandbox) -> None:
    """From here on nothing the gateways do reaches us: only the report can see it."""
    sandbox.webhooks(gateway="toss", paused=True)
    sandbox.webhooks(gateway="stripe", paused=True)


def found(result: Any) -> set[tuple[str, str | None, str]]:
    report = json.loads(result.stdout)
    return {(d["provider"], d["orderId"], d["kind"]) for d in report["differences"]}


def flags(app, order_id: str) -> list[PaymentEvent]:
    with app.app_context():
        payment = db.session.execute(sa.select(Payment).where(Payment.order_id == order_id)).scalar_one()
        assert payment.needs_review
        query = sa.select(PaymentEvent).where(
            PaymentEvent.payment_id == payment.id, PaymentEvent.kind == LedgerKind.FLAG
        )
        return list(db.session.execute(query).scalars())


def runs(app) -> list[DriftRun]:
    with app.app_context():
        found_runs = list(db.session.execute(sa.select(DriftRun).order_by(DriftRun.id)).scalars())
        for run in found_runs:
            db.session.expunge(run)
        return found_runs


def test_each_planted_difference_is_found_flagged_once_stored_and_counted(
    app, client, test_env, sandbox, toss, stripe_shopper, stripe_api
):
    matching, refunded_there, lost_there = toss_paid(toss), toss_paid(toss), toss_paid(toss)
    s_matching, s_refunded_there, s_lost_there = (stripe_paid(stripe_shopper) for _ in range(3))
    pause_webhooks(sandbox)
    stranger = unknown_order()
    toss_paid_elsewhere(toss, stranger)
    toss.toss_cancel(refunded_there["paymentKey"], "refunded in Toss's dashboard", 3000)
    sandbox.control("POST", "/toss/forget", {"orderId": lost_there["orderId"]})
    s_stranger = unknown_order()
    stripe_paid_elsewhere(sandbox, stripe_api, s_stranger)
    stripe_api.v1.refunds.create(params={"payment_intent": s_refunded_there["paymentIntentId"], "amount": 300})
    sandbox.control("POST", "/stripe/forget", {"payment_intent": s_lost_there["paymentIntentId"]})

    first = drift(test_env, *around_now(), "--json")
    assert first.returncode == 1, first.stderr
    expected = {
        ("toss", stranger, "MISSING_HERE"),
        ("toss", refunded_there["orderId"], "STATUS_MISMATCH"),
        ("toss", lost_there["orderId"], "MISSING_THERE"),
        ("stripe", s_stranger, "MISSING_HERE"),
        ("stripe", s_refunded_there["orderId"], "STATUS_MISMATCH"),
        ("stripe", s_lost_there["orderId"], "MISSING_THERE"),
    }
    assert found(first) == expected
    report = json.loads(first.stdout)
    assert report["checked"] == {"toss": 4, "stripe": 4}
    assert report["since"].endswith("Z") and report["until"].endswith("Z")
    [partial] = [d for d in report["differences"] if d["orderId"] == refunded_there["orderId"]]
    assert partial["reference"] == refunded_there["paymentKey"]
    assert partial["ours"] == {"status": "PAID", "amount": 13000, "refundedAmount": 0, "currency": "KRW"}
    assert partial["theirs"] == {
        "status": "PARTIAL_CANCELED",
        "amount": 13000,
        "refundedAmount": 3000,
        "currency": "KRW",
    }
    [unknown] = [d for d in report["differences"] if d["orderId"] == s_stranger]
    assert unknown["ours"] is None and unknown["theirs"]["status"] == "succeeded" and unknown["detail"]
    for order in (refunded_there, lost_there, s_refunded_there, s_lost_there):
        [flag] = flags(app, order["orderId"])
        assert flag.reason.startswith("drift report: ") and flag.detail["flag"] == "NEEDS_REVIEW"
    for order in (matching, s_matching):
        assert toss.payment(order).needs_review is False

    second = drift(test_env, *around_now())
    assert second.returncode == 1 and "6 difference(s)" in second.stdout
    assert "MISSING_THERE" in second.stdout and lost_there["orderId"] in second.stdout
    for order in (refunded_there, lost_there, s_refunded_there, s_lost_there):
        assert len(flags(app, order["orderId"])) == 1  # flagged once, not again
    first_run, second_run = runs(app)
    assert (first_run.outcome, second_run.outcome) == ("differences", "differences")
    assert first_run.trigger == "cli" and first_run.finished_at is not None
    with app.app_context():
        stored = db.session.execute(sa.select(DriftDifference).order_by(DriftDifference.id)).scalars().all()
        by_run = {run_id: [d for d in stored if d.run_id == run_id] for run_id in (first_run.id, second_run.id)}
        assert [d.flagged for d in by_run[first_run.id]].count(True) == 4
        assert not any(d.flagged for d in by_run[second_run.id]) and len(by_run[second_run.id]) == 6

    _, samples = scrape(client)
    for provider in ("toss", "stripe"):
        for kind in ("MISSING_HERE", "MISSING_THERE", "STATUS_MISMATCH"):
            assert value(samples, "chatju_drift_differences", provider=provider, kind=kind) == 1
        assert value(samples, "chatju_drift_differences", provider=provider, kind="AMOUNT_MISMATCH") == 0
    assert value(samples, "chatju_drift_last_finished_timestamp_seconds") >= first_run.finished_at.timestamp() - 1
    assert value(samples, "chatju_drift_runs_total", outcome="differences") == 2


def test_a_window_with_nothing_in_it_exits_0(app, client, test_env):
    _, samples = scrape(client)
    assert value(samples, "chatju_drift_last_finished_timestamp_seconds") == 0
    result = drift(test_env, "--since", "2026-01-01T00:00:00Z", "--until", "2026-01-02T00:00:00Z")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "drift 2026-01-01T00:00:00Z .. 2026-01-02T00:00:00Z: checked toss 0, stripe 0; no difference"
    )
    as_json = drift(test_env, "--since", "2026-01-01", "--until", "2026-01-02", "--provider", "toss", "--json")
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout) == {
        "since": "2026-01-01T00:00:00Z",
        "until": "2026-01-02T00:00:00Z",
        "checked": {"toss": 0},
        "differences": [],
    }
    _, samples = scrape(client)
    assert value(samples, "chatju_drift_runs_total", outcome="clean") == 2
    assert value(samples, "chatju_drift_last_finished_timestamp_seconds") > 0


def test_payments_that_agree_exit_0_and_are_not_flagged(app, test_env, toss, stripe_shopper):
    toss_order, stripe_order = toss_paid(toss), stripe_paid(stripe_shopper)
    assert toss.toss_cancel(toss_order["paymentKey"], "by us", 2000, key=None)  # at Toss, and then to us:
    toss.wait_for(toss_order, "PARTIALLY_REFUNDED")
    result = drift(test_env, *around_now(), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["checked"] == {"toss": 1, "stripe": 1}
    assert not toss.payment(toss_order).needs_review and not toss.payment(stripe_order).needs_review


def test_a_refund_today_of_a_payment_approved_earlier_is_compared_whole(app, test_env, sandbox, toss):
    order = toss_paid(toss)
    sandbox.control("POST", "/toss/backdate", {"orderId": order["orderId"], "seconds": 3 * DAY})
    pause_webhooks(sandbox)
    toss.toss_cancel(order["paymentKey"], "refunded in Toss's dashboard")  # the whole of it, today
    result = drift(test_env, *around_now(), "--json", "--provider", "toss")
    assert result.returncode == 1, result.stderr
    [difference] = json.loads(result.stdout)["differences"]
    assert (difference["kind"], difference["orderId"]) == ("STATUS_MISMATCH", order["orderId"])
    # Only the cancel row is in the window: the payment was looked up whole, approval included.
    assert difference["theirs"] == {"status": "CANCELED", "amount": 13000, "refundedAmount": 13000, "currency": "KRW"}
    fetched = [r for r in sandbox.requests_log(gateway="toss") if r["path"].endswith(order["paymentKey"])]
    assert [r["operation"] for r in fetched] == ["fetch"]


def test_the_report_pages_through_each_gateway_and_keeps_the_audit_trail(app, test_env, sandbox, toss, stripe_api):
    pause_webhooks(sandbox)
    toss_orders = {unknown_order() for _ in range(3)}
    stripe_orders = {unknown_order() for _ in range(3)}
    for order_id in toss_orders:
        toss_paid_elsewhere(toss, order_id)
    for order_id in stripe_orders:
        stripe_paid_elsewhere(sandbox, stripe_api, order_id)

    result = drift(test_env, *around_now(), "--json", DRIFT_PAGE_SIZE="2")
    assert result.returncode == 1, result.stderr
    assert found(result) == {("toss", o, "MISSING_HERE") for o in toss_orders} | {
        ("stripe", o, "MISSING_HERE") for o in stripe_orders
    }
    listed = [r for r in sandbox.requests_log(gateway="toss") if r["operation"] == "transactions"]
    assert len(listed) == 2  # 2 + 1 rows: the short page ends it
    with app.app_context():
        calls = db.session.execute(sa.select(GatewayCall).where(GatewayCall.order_id.is_(None))).scalars().all()
        operations = [c.operation for c in calls]
        assert operations.count("list_transactions") == 2 and operations.count("list_intents") == 2
        assert operations.count("list_refunds") == 1
        assert all(c.outcome == "ok" and c.http_status == 200 for c in calls)
        pages = sorted((c for c in calls if c.operation == "list_transactions"), key=lambda c: c.id)
        assert [c.response["rows"] for c in pages] == [2, 1]  # the trail keeps counts, not the rows
        assert pages[0].response["startingAfter"] is None and pages[1].response["startingAfter"]


def test_a_gateway_error_is_exit_2_and_a_stored_failed_run(app, client, test_env, sandbox):
    sandbox.fault(gateway="stripe", mode="error500", operation="list")
    result = drift(test_env, *around_now())
    assert result.returncode == 2 and result.stdout == ""
    [line] = said(result)
    assert line.startswith("drift: could not finish: stripe: api_error")
    [run] = runs(app)
    assert run.outcome == "failed" and run.finished_at is None and run.error.startswith("stripe: ")
    _, samples = scrape(client)
    assert value(samples, "chatju_drift_runs_total", outcome="failed") == 1
    assert value(samples, "chatju_drift_last_finished_timestamp_seconds") == 0
    sandbox.fault(gateway="toss", mode="drop", operation="transactions")
    dropped = drift(test_env, *around_now())
    assert dropped.returncode == 2
    assert said(dropped) == ["drift: could not finish: toss: CONNECTION_ERROR: Could not reach Toss (ConnectionError)."]
    sandbox.fault(gateway="toss", mode="malformed", operation="transactions")
    cut_short = drift(test_env, *around_now(), "--json")
    assert cut_short.returncode == 2 and cut_short.stdout == ""
    assert said(cut_short) == ["drift: could not finish: toss: INVALID_RESPONSE: Toss answered 200 without a list."]
    assert drift(test_env, *around_now()).returncode == 0  # the faults are spent: it finishes
    assert [run.outcome for run in runs(app)] == ["failed", "failed", "failed", "clean"]


def test_a_database_that_cannot_be_reached_is_exit_2(test_env):
    result = drift(test_env, *around_now(), DATABASE_URL="postgresql://chatju@127.0.0.1:9/none")
    assert result.returncode == 2 and result.stdout == ""
    assert said(result) == ["drift: could not finish: OperationalError (see the log)"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--since", "yesterday"), "drift: --since must be an ISO 8601 time"),
        (("--since", "2026-12-02", "--until", "2026-12-01"), "drift: --since must be before --until"),
        (("--since", "2026-01-01", "--until", "2026-03-01"), "drift: the window may span at most 31 days"),
        (("--provider", "paypal"), "drift: --provider must be one of toss, stripe"),
    ],
)
def test_bad_arguments_are_exit_2_with_one_line_and_no_run(app, test_env, args, says):
    result = drift(test_env, *args)
    assert result.returncode == 2 and result.stdout == ""
    [line] = said(result)
    assert line.startswith(says)
    assert runs(app) == []


def test_payments_still_in_flight_are_left_to_reconciliation(app, test_env, sandbox, toss, stripe_shopper):
    pause_webhooks(sandbox)
    confirming = toss.create(productId="premium_reading")
    key = toss.checkout(confirming)["params"]["paymentKey"]
    toss.toss_confirm(confirming, key)  # Toss took it; our confirm has not heard back
    with app.app_context():
        db.session.execute(
            sa.text("UPDATE payments SET status='PROCESSING', attempt_key=:k WHERE order_id=:o"),
            {"k": key, "o": confirming["orderId"]},
        )
        db.session.commit()
    unpaid = stripe_shopper.create(productId="premium_reading")
    sandbox.stripe_succeed(unpaid["paymentIntentId"])  # paid at Stripe; its webhook has not come
    result = drift(test_env, *around_now(), "--json")
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["checked"] == {"toss": 1, "stripe": 1}
    assert not toss.payment(confirming).needs_review and not toss.payment(unpaid).needs_review


def test_beat_runs_the_report_daily_for_the_previous_day(app, test_env, sandbox, toss):
    schedule = celeryconfig.celery_settings(current_settings_of(app))["beat_schedule"]["drift"]
    assert schedule["task"] == TaskNames.DRIFT
    assert (schedule["schedule"].hour, schedule["schedule"].minute) == ({0}, {30})  # DRIFT_REPORT_AT
    assert queue_for(current_settings_of(app), TaskNames.DRIFT).endswith(".maintenance")
    pause_webhooks(sandbox)
    yesterday, today = unknown_order(), unknown_order()
    toss_paid_elsewhere(toss, yesterday)
    sandbox.control("POST", "/toss/backdate", {"orderId": yesterday, "seconds": DAY})
    toss_paid_elsewhere(toss, today)

    with app.app_context():
        send(TaskNames.DRIFT)
    wait_until(lambda: [run for run in runs(app) if run.outcome != "running"], timeout=60)
    [run] = runs(app)
    midnight = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    assert (run.trigger, run.since, run.until) == ("beat", midnight - timedelta(days=1), midnight)
    assert run.outcome == "differences" and run.checked == {"toss": 1, "stripe": 0}
    with app.app_context():
        [difference] = db.session.execute(sa.select(DriftDifference)).scalars().all()
        assert (difference.order_id, difference.kind) == (yesterday, "MISSING_HERE")


def current_settings_of(app):
    with app.app_context():
        return current_settings()
