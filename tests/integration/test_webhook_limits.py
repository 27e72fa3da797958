"""Webhook rate limits over real HTTP: signed Stripe deliveries are never refused; forged ones are (SPEC §4)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest
import requests

from chatju import create_app
from tests.support.live import LiveServer, free_port
from tests.support.stripe import signed

LIMIT = 5


@pytest.fixture
def limited(app, test_env) -> Iterator[LiveServer]:
    """The app with RATE_LIMIT_WEBHOOK at 5 per minute, its own counters, and a queue no worker reads."""
    run = secrets.token_hex(3)
    env = {
        **test_env,
        "RATE_LIMIT_WEBHOOK": f"{LIMIT} per minute",
        "REDIS_KEY_PREFIX": f"{test_env['REDIS_KEY_PREFIX']}wh-stripe-{run}:",
        "CELERY_QUEUE": f"{test_env['CELERY_QUEUE']}-limits-{run}",
    }
    server = LiveServer(create_app(env), free_port()).start()
    while time.time() % 60 > 45:  # the limiter counts in fixed minute windows: start well inside one
        time.sleep(0.5)
    yield server
    server.stop()


def event(n: int) -> dict:
    return {
        "id": f"evt_limits_{secrets.token_hex(6)}_{n}",
        "object": "event",
        "created": int(time.time()),
        "livemode": False,
        "type": "customer.created",  # recorded and ignored: nothing to ask the gateway
        "data": {"object": {"id": f"cus_{n}", "object": "customer"}},
    }


def deliver(server: LiveServer, body: str, header: str) -> requests.Response:
    headers = {"Content-Type": "application/json", "Stripe-Signature": header}
    return requests.post(f"{server.url}/payment/stripe/webhook", data=body, headers=headers, timeout=10)


def genuine(server: LiveServer, n: int) -> requests.Response:
    return deliver(server, *signed(event(n)))


def forged(server: LiveServer, n: int) -> requests.Response:
    return deliver(server, *signed(event(n), secret="whsec_notStripes"))


def test_a_burst_of_signed_stripe_events_is_never_limited(limited):
    codes = [genuine(limited, n).status_code for n in range(2 * LIMIT)]
    assert codes == [200] * (2 * LIMIT)


def test_forged_deliveries_are_limited_per_address_and_genuine_ones_still_pass(limited):
    answers = [forged(limited, n) for n in range(LIMIT + 2)]
    assert [a.status_code for a in answers] == [400] * LIMIT + [429] * 2
    assert {a.json()["error"]["code"] for a in answers[:LIMIT]} == {"INVALID_SIGNATURE"}
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert [genuine(limited, n).status_code for n in range(2 * LIMIT)] == [200] * (2 * LIMIT)
    assert forged(limited, LIMIT + 2).status_code == 429  # genuine deliveries do not reset a forger's count
