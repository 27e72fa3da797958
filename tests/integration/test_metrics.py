"""GET /metrics: Prometheus text for the whole system, the worker's counts included."""

from __future__ import annotations

import json
import secrets
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from limits import parse_many
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from chatju import maintenance
from chatju.db import utcnow
from chatju.extensions import db
from chatju.observability import multiprocess
from chatju.payments import service as payments
from chatju.payments import transitions
from chatju.payments.models import Effect, OutboxItem, OutboxState, Payment, Refund, RefundStatus
from chatju.states import EventSource, PaymentStatus
from chatju.webhooks import service as inbox
from tests.support.shopper import wait_until
from tests.support.toss import TossShopper

pytestmark = pytest.mark.usefixtures("worker", "live_server")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

FAMILIES = {
    "chatju_payments_created",
    "chatju_payments_paid",
    "chatju_payments_failed",
    "chatju_payments_refunded",
    "chatju_payments_flagged",
    "chatju_payments_needs_review",
    "chatju_payments_open",
    "chatju_payments_processing_oldest_age_seconds",
    "chatju_refunds_pending",
    "chatju_refunds_pending_oldest_age_seconds",
    "chatju_outbox_backlog",
    "chatju_outbox_oldest_pending_age_seconds",
    "chatju_webhook_events_received",
    "chatju_webhook_duplicate_deliveries",
    "chatju_webhook_events_processed",
    "chatju_webhook_events_failed",
    "chatju_webhook_signature_failures",
    "chatju_webhook_lag_seconds",
    "chatju_webhook_inbox_backlog",
    "chatju_webhook_inbox_oldest_age_seconds",
    "chatju_gateway_request_duration_seconds",
    "chatju_gateway_errors",
    "chatju_gateway_last_success_timestamp_seconds",
    "chatju_http_request_duration_seconds",
    "chatju_metrics_database_up",
    "chatju_drift_differences",
    "chatju_drift_last_finished_timestamp_seconds",
    "chatju_drift_runs",
}


def scrape(client) -> tuple[set[str], Samples]:
    response = client.get("/metrics")
    assert response.status_code == 200
    families = list(text_string_to_metric_families(response.get_data(as_text=True)))
    samples = {(s.name, frozenset(s.labels.items())): s.value for f in families for s in f.samples}
    return {f.name for f in families}, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def toss_webhook(client, body: dict, transmission_id: str):
    headers = {"tosspayments-webhook-transmission-id": transmission_id}
    return client.post("/payment/toss/webhook", data=json.dumps(body), content_type="application/json", headers=headers)


@pytest.fixture
def shopper(app, client, sandbox, make_user, auth_headers) -> TossShopper:
    return TossShopper(app, client, sandbox, auth_headers(make_user("metrics@example.com")))


def test_metrics_is_prometheus_text_for_anyone(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
    names, samples = scrape(client)
    assert {"chatju_webhook_inbox_backlog", "chatju_payments_needs_review", "chatju_payments_open"} <= names
    assert value(samples, "chatju_metrics_database_up") == 1
    # Series with known labels exist at zero before anything happens.
    assert ("chatju_payments_paid_total", frozenset({("provider", "stripe")})) in samples
    assert ("chatju_webhook_signature_failures_total", frozenset({("provider", "stripe")})) in samples


def test_metrics_is_exempt_from_rate_limits(app, client):
    [limit] = parse_many(app.config["RATELIMIT_DEFAULT"])
    scraper, browser = ({"REMOTE_ADDR": f"10.{secrets.randbelow(250)}.{n}.9"} for n in (1, 2))
    calls = range(limit.amount + 1)
    assert {client.get("/metrics", environ_base=scraper).status_code for _ in calls} == {200}
    # The same number of calls elsewhere is limited (twice over, in case a window ends mid-way).
    assert 429 in {client.get("/products", environ_base=browser).status_code for _ in range(2 * len(calls))}


def test_a_toss_payment_paid_by_the_worker_counts_at_the_web_scrape(shopper, worker):
    _, before = scrape(shopper.client)
    order = shopper.create(productId="premium_reading")
    refused = shopper.confirm(order, "tsbxNoSuchPaymentKey000000000000000000000")
    assert refused.status_code == 400
    assert shopper.confirm(order, shopper.checkout(order)["params"]["paymentKey"]).get_json()["status"] == "PAID"
    wait_until(lambda: any(e.state == "processed" for e in shopper.inbox(order)))
    names, after = scrape(shopper.client)

    assert names >= FAMILIES
    assert grew(before, after, "chatju_payments_created_total", provider="toss") == 1
    assert grew(before, after, "chatju_payments_paid_total", provider="toss") == 1
    confirm = {"gateway": "toss", "operation": "confirm"}
    assert grew(before, after, "chatju_gateway_request_duration_seconds_count", **confirm, outcome="ok") >= 1
    assert grew(before, after, "chatju_gateway_errors_total", **confirm, outcome="error", status="4xx") >= 1
    assert value(after, "chatju_gateway_last_success_timestamp_seconds", gateway="toss") > 0
    webhook = {"provider": "toss", "type": "PAYMENT_STATUS_CHANGED"}
    assert grew(before, after, "chatju_webhook_events_received_total", **webhook) >= 1
    assert grew(before, after, "chatju_webhook_events_processed_total", **webhook, outcome="processed") >= 1
    assert grew(before, after, "chatju_webhook_lag_seconds_count", **webhook) >= 1
    route = {"route": "/payment/toss/create", "method": "POST", "status": "2xx"}
    assert grew(before, after, "chatju_http_request_duration_seconds_count", **route) == 1
    assert order["orderId"] not in shopper.client.get("/metrics").get_data(as_text=True)
    # The PAID move was counted by the worker process, in its own file, and read by the web scrape.
    own_files = [str(f) for f in multiprocess.directory().glob(f"counter_*-{worker.process.pid}.db")]
    [paid] = [m for m in MultiProcessCollector.merge(own_files) if m.name == "chatju_payments_paid"]
    assert any(s.labels == {"provider": "toss"} and s.value >= 1 for s in paid.samples)


def test_webhook_deliveries_count_by_type_and_duplicates(client):
    _, before = scrape(client)
    body = {"eventType": "PAYMENT_STATUS_CHANGED", "data": {"orderId": "ord_metricsNoSuchOrder0000", "status": "DONE"}}
    assert toss_webhook(client, body, "metrics-delivery-1").status_code == 200
    assert toss_webhook(client, body, "metrics-delivery-1").status_code == 200
    invented = f"INVENTED_{secrets.token_hex(8)}"
    assert toss_webhook(client, {"eventType": invented}, "metrics-delivery-2").status_code == 200
    _, after = scrape(client)

    handled = {"provider": "toss", "type": "PAYMENT_STATUS_CHANGED"}
    assert grew(before, after, "chatju_webhook_events_received_total", **handled) == 1
    assert grew(before, after, "chatju_webhook_duplicate_deliveries_total", **handled) == 1
    # A type we do not handle is stored and ignored at once, under one label whatever its name.
    other = {"provider": "toss", "type": "other"}
    assert grew(before, after, "chatju_webhook_events_received_total", **other) == 1
    assert grew(before, after, "chatju_webhook_events_processed_total", **other, outcome="ignored") == 1
    assert invented not in client.get("/metrics").get_data(as_text=True)


def test_a_bad_stripe_signature_is_counted(client):
    _, before = scrape(client)
    response = client.post(
        "/payment/stripe/webhook", data="{}", content_type="application/json", headers={"Stripe-Signature": "t=1,v1=00"}
    )
    assert response.status_code == 400
    _, after = scrape(client)
    assert grew(before, after, "chatju_webhook_signature_failures_total", provider="stripe") == 1


def test_counts_follow_the_commit_and_the_database_gauges_read_the_tables(app, client, make_user):
    user_id = make_user("held@example.com")
    _, before = scrape(client)
    with app.app_context():
        payments.create_order(user_id, "toss", 13000, "KRW", "rolled back")
        db.session.rollback()
        payment = payments.create_order(user_id, "toss", 13000, "KRW", "kept")
        transitions.flag_review(payment, EventSource.ADMIN, "metrics test", {})
        event_id, _, _ = inbox.store("toss", "evt_metrics", "PAYMENT_STATUS_CHANGED", None, "{}", {}, None)
        db.session.commit()
    _, middle = scrape(client)

    assert grew(before, middle, "chatju_payments_created_total", provider="toss") == 1
    assert grew(before, middle, "chatju_payments_flagged_total", provider="toss") == 1
    assert value(middle, "chatju_payments_needs_review", provider="toss") == 1
    assert value(middle, "chatju_payments_open", provider="toss", status="PENDING") == 1
    assert value(middle, "chatju_webhook_inbox_backlog", provider="toss", state="received") == 1
    assert value(middle, "chatju_webhook_inbox_oldest_age_seconds", provider="toss") >= 0

    with app.app_context():
        inbox.record_failure(event_id, "RuntimeError", final=True)
    _, after = scrape(client)
    failed = {"provider": "toss", "type": "PAYMENT_STATUS_CHANGED", "final": "true"}
    assert grew(middle, after, "chatju_webhook_events_failed_total", **failed) == 1
    assert value(after, "chatju_webhook_inbox_backlog", provider="toss", state="received") == 0
    assert value(after, "chatju_webhook_inbox_backlog", provider="toss", state="failed") == 1


def test_what_reconciliation_and_the_outbox_leave_open_is_measured_by_age(app, client, make_user):
    user_id = make_user("stuck@example.com")
    hour_ago = utcnow() - timedelta(hours=1)
    with app.app_context():
        card = payments.create_order(user_id, "toss", 13000, "KRW", "confirm lost")
        deposit = payments.create_order(user_id, "toss", 13000, "KRW", "awaiting a deposit")
        paid = payments.create_order(user_id, "stripe", 1000, "USD", "refund in flight")
        db.session.flush()
        card.status, card.method = PaymentStatus.PROCESSING, "card"
        deposit.status, deposit.method = PaymentStatus.PROCESSING, "virtual_account"
        paid.status = PaymentStatus.PAID
        refund = Refund(
            refund_id="rf_metricsStuck",
            payment_id=paid.id,
            amount=500,
            currency="USD",
            reason="test",
            status=RefundStatus.PENDING,
            source=EventSource.ADMIN,
        )
        effect = OutboxItem(payment_id=paid.id, effect=Effect.RECEIPT, state=OutboxState.PENDING)
        db.session.add_all([refund, effect])
        db.session.flush()
        # Backdated past the ORM's own timestamps, as rows left behind an hour ago.
        for table, row_id in ((Payment, card.id), (Payment, deposit.id), (Refund, refund.id)):
            db.session.execute(
                sa.update(table).where(table.id == row_id).values(updated_at=hour_ago, created_at=hour_ago)
            )
        db.session.execute(sa.update(OutboxItem).where(OutboxItem.id == effect.id).values(created_at=hour_ago))
        db.session.commit()
    _, samples = scrape(client)

    # The card confirm is an hour old; the virtual account awaiting its deposit is not counted as stuck.
    assert 3500 < value(samples, "chatju_payments_processing_oldest_age_seconds", provider="toss") < 3700
    assert value(samples, "chatju_payments_processing_oldest_age_seconds", provider="stripe") == 0
    assert value(samples, "chatju_refunds_pending", provider="stripe") == 1
    assert value(samples, "chatju_refunds_pending", provider="toss") == 0
    assert 3500 < value(samples, "chatju_refunds_pending_oldest_age_seconds", provider="stripe") < 3700
    assert value(samples, "chatju_outbox_backlog", state="pending") == 1
    assert value(samples, "chatju_outbox_backlog", state="failed") == 0
    assert 3500 < value(samples, "chatju_outbox_oldest_pending_age_seconds") < 3700


def test_a_periodic_job_that_runs_to_its_end_marks_the_time(app, client):
    started = time.time()
    with app.app_context():
        maintenance.redrive()
    _, samples = scrape(client)
    assert value(samples, "chatju_job_last_finished_timestamp_seconds", task="redrive") >= started - 1
