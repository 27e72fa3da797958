"""Every metric the alert rules and the dashboard use is one the app's GET /metrics exposes."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from chatju import maintenance
from tests.support import monitoring
from tests.support.shopper import wait_until
from tests.support.toss import TossShopper

pytestmark = pytest.mark.usefixtures("worker", "live_server")


def exposed_families(client) -> dict[str, str]:
    """Family name -> type, as a scrape lists them (a family of the database gauges is listed even when empty)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    return {family.name: family.type for family in text_string_to_metric_families(response.get_data(as_text=True))}


def exercise(app, client, sandbox, headers) -> None:
    """What makes every family appear: a Toss payment (a refused key first), its webhook, and each periodic job."""
    shopper = TossShopper(app, client, sandbox, headers)
    order = shopper.create(productId="premium_reading")
    assert shopper.confirm(order, "tsbxNoSuchPaymentKey000000000000000000000").status_code == 400
    assert shopper.confirm(order, shopper.checkout(order)["params"]["paymentKey"]).get_json()["status"] == "PAID"
    wait_until(lambda: any(e.state == "processed" for e in shopper.inbox(order)))
    with app.app_context():
        for job in (maintenance.reconcile, maintenance.expire, maintenance.redrive, maintenance.prune):
            job()


def test_every_metric_the_rules_and_the_dashboard_use_is_exposed(app, client, sandbox, make_user, auth_headers):
    exercise(app, client, sandbox, auth_headers(make_user("monitoring@example.com")))
    families = exposed_families(client)
    rule_exprs = [rule["expr"] for rule in monitoring.rules()]
    used = monitoring.used_names(rule_exprs + monitoring.dashboard_exprs())
    assert used, "no metric names found in the rules and the dashboard"
    missing = sorted(name for name in used if not monitoring.exposed(name, families))
    assert missing == [], f"used in ops/ but not exposed by GET /metrics: {missing}"


def test_the_name_check_tells_series_of_a_family_from_invented_names(client):
    families = exposed_families(client)
    assert monitoring.exposed("chatju_payments_paid_total", families)
    assert monitoring.exposed("chatju_payments_needs_review", families)
    assert not monitoring.exposed("chatju_payments_paid", families)  # a counter is read as ..._total
    assert not monitoring.exposed("chatju_payments_needs_review_total", families)
    assert not monitoring.exposed("chatju_payments_paid_totl", families)
