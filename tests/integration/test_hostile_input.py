"""Hostile input never reaches a 500 (SPEC §9): each way it was tried is kept here as a regression test."""

from __future__ import annotations

import json
import logging
import secrets
import time

import pytest
import requests
import sqlalchemy as sa
from flask_jwt_extended import create_access_token

from chatju import create_app
from chatju.auth.models import User
from chatju.extensions import db
from chatju.payments.models import Payment
from chatju.webhooks.models import WebhookEvent
from tests.support.stripe import signed

CONTROL_TEXT = ["nul\u0000inside", "bell\x01", "\x1b[31mred", "del\x7f", "c1\u0085inside", "tab\there", "line\nbreak"]


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.get_json()["error"]["code"] == code


def count(app, model) -> int:
    with app.app_context():
        return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


@pytest.fixture
def buyer(make_user, auth_headers) -> dict[str, str]:
    return auth_headers(make_user("hostile@example.com"))


@pytest.fixture
def admin(make_user, auth_headers) -> dict[str, str]:
    return auth_headers(make_user("admin@example.com", admin=True))


# --- Text: one rule for every text field --------------------------------------------------


@pytest.mark.parametrize("text", CONTROL_TEXT)
def test_order_names_with_control_characters_are_refused_and_nothing_is_stored(app, client, buyer, text):
    toss = client.post("/payment/toss/create", json={"productId": "premium_reading", "orderName": text}, headers=buyer)
    assert_error(toss, 400, "VALIDATION_ERROR")
    stripe = client.post("/payment/stripe/create", json={"amount": 1000, "description": text}, headers=buyer)
    assert_error(stripe, 400, "VALIDATION_ERROR")
    assert count(app, Payment) == 0


@pytest.mark.parametrize("text", CONTROL_TEXT)
def test_a_display_name_with_control_characters_is_refused(client, buyer, text):
    assert_error(client.patch("/auth/me", json={"displayName": text}, headers=buyer), 400, "VALIDATION_ERROR")
    assert client.get("/auth/me", headers=buyer).get_json()["displayName"] is None


@pytest.mark.parametrize("text", ["nul\u0000", "\x1b[31m"])
def test_a_refund_reason_with_control_characters_is_refused(client, admin, text):
    response = client.post("/payment/ord_someorder0000000000/refund", json={"reason": text}, headers=admin)
    assert_error(response, 400, "VALIDATION_ERROR")


def test_a_lone_surrogate_is_not_text(client, buyer):
    raw = '{"productId": "premium_reading", "orderName": "half \\ud800 a character"}'
    response = client.post("/payment/toss/create", data=raw, content_type="application/json", headers=buyer)
    assert_error(response, 400, "VALIDATION_ERROR")


def test_ordinary_text_is_accepted_as_sent(client, buyer):
    name = "사주 리딩 — premium ✨"
    toss = client.post("/payment/toss/create", json={"productId": "premium_reading", "orderName": name}, headers=buyer)
    assert toss.status_code == 201 and toss.get_json()["orderName"] == name
    named = client.patch("/auth/me", json={"displayName": "김 철수"}, headers=buyer)
    assert named.get_json()["displayName"] == "김 철수"


# --- Webhooks: the identifiers they name and the times they carry ---------------------------


def toss_event(**changes) -> dict:
    data = {"orderId": "ord_hostile000000000000", "paymentKey": "tgen_hostile", "status": "DONE"}
    body = {"eventType": "PAYMENT_STATUS_CHANGED", "createdAt": "2026-11-30T20:00:00.000000", "data": data}
    for name, value in changes.items():
        (data if name in data else body)[name] = value
    return body


@pytest.mark.parametrize(
    "changes",
    [
        {"createdAt": "0001-01-01T00:00:00"},  # Korean time: before the calendar once in UTC
        {"createdAt": "9999-12-31T23:59:59-09:00"},  # after it
        {"createdAt": "1969-12-31T23:59:59+00:00"},
        {"createdAt": "not a time"},
        {"eventType": "PAYMENT_STATUS_CHANGED\u0000"},
        {"orderId": "ord_\u0000hostile0000000000"},
        {"paymentKey": "tgen_\u0000"},
        {"status": "DONE\x1b[31m"},
    ],
    ids=["year-1", "year-10000", "before-1970", "malformed-time", "nul-type", "nul-order", "nul-key", "escape-status"],
)
def test_a_toss_webhook_breaking_an_input_rule_is_a_400_and_nothing_is_stored(app, client, changes):
    response = client.post("/payment/toss/webhook", json=toss_event(**changes))
    assert_error(response, 400, "VALIDATION_ERROR")
    assert count(app, WebhookEvent) == 0


def test_a_toss_transmission_id_with_control_characters_is_refused(app, client):
    headers = {"tosspayments-webhook-transmission-id": "whtrans\x01"}
    assert_error(client.post("/payment/toss/webhook", json=toss_event(), headers=headers), 400, "VALIDATION_ERROR")
    assert count(app, WebhookEvent) == 0


def test_a_toss_webhook_within_the_rules_is_stored(app, client):
    assert client.post("/payment/toss/webhook", json=toss_event()).status_code == 200
    assert count(app, WebhookEvent) == 1


def stripe_event(**changes) -> dict:
    intent = {"id": "pi_hostile", "object": "payment_intent", "metadata": {"order_id": "ord_hostile000000000000"}}
    event = {"id": f"evt_{time.time_ns()}", "type": "payment_intent.succeeded", "created": int(time.time())}
    event["data"] = {"object": intent}
    for name, value in changes.items():
        if name == "order_id":
            intent["metadata"]["order_id"] = value
        elif name == "object_id":
            intent["id"] = value
        else:
            event[name] = value
    return event


@pytest.mark.parametrize(
    "changes",
    [
        {"id": "evt_\u0000"},
        {"type": "payment_intent.succeeded\u0000"},
        {"object_id": "pi_\u0000"},
        {"order_id": "ord_\x01hostile"},
        {"created": 10**20},
        {"created": -(10**20)},
        {"created": True},
        {"created": "yesterday"},
    ],
    ids=["nul-id", "nul-type", "nul-object", "control-order", "far-future", "far-past", "boolean", "string"],
)
def test_a_signed_stripe_event_breaking_an_input_rule_is_a_400_and_nothing_is_stored(app, client, changes):
    body, signature = signed(stripe_event(**changes))
    response = client.post(
        "/payment/stripe/webhook", data=body, content_type="application/json", headers={"Stripe-Signature": signature}
    )
    assert_error(response, 400, "VALIDATION_ERROR")
    assert count(app, WebhookEvent) == 0


def test_a_signed_stripe_event_with_a_lone_surrogate_and_a_client_secret_is_stored(app, client):
    event = stripe_event()
    event["data"]["object"].update(client_secret="pi_hostile_secret_x", description="half \ud800")
    body, signature = signed(event)  # json.dumps escapes the surrogate, as Stripe would
    response = client.post(
        "/payment/stripe/webhook", data=body, content_type="application/json", headers={"Stripe-Signature": signature}
    )
    assert response.status_code == 200
    with app.app_context():
        stored = db.session.execute(sa.select(WebhookEvent.body)).scalar_one()
    assert "pi_hostile_secret_x" not in stored and json.loads(stored)["data"]["object"]["description"] == "half \ud800"


# --- Path ids, tokens and Idempotency-Key -------------------------------------------------


@pytest.mark.parametrize("path", ["/payment/ord_%00abc", "/payment/ord_%01abcdef", "/payment/" + "a" * 65])
def test_a_path_that_cannot_be_an_order_id_is_a_404(client, buyer, admin, path):
    assert_error(client.get(path, headers=buyer), 404, "NOT_FOUND")
    assert_error(client.post(f"{path}/cancel", headers=buyer), 404, "NOT_FOUND")
    assert_error(client.post(f"{path}/refund", json={"reason": "test"}, headers=admin), 404, "NOT_FOUND")


@pytest.mark.parametrize("subject", ["²", "١٢", "99999999999999999999", "0", "-1", " 1", "1\n"])
def test_a_signed_token_whose_subject_is_not_a_user_id_is_a_401(app, client, make_user, subject):
    make_user()
    with app.app_context():
        token = create_access_token(identity=subject)
    assert_error(client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}), 401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    "key",
    [
        "한글키".encode().decode("latin-1"),  # UTF-8 bytes, as a WSGI server hands them over
        "caf\xe9",  # Latin-1 bytes
        "with space",
        "tab\tkey",
        "k" * 256,
    ],
    ids=["utf-8", "latin-1", "space", "tab", "too-long"],
)
def test_an_idempotency_key_outside_visible_ascii_is_refused(app, client, buyer, key):
    response = client.post(
        "/payment/toss/create", json={"productId": "premium_reading"}, headers={**buyer, "Idempotency-Key": key}
    )
    assert_error(response, 400, "VALIDATION_ERROR")
    assert count(app, Payment) == 0


@pytest.mark.parametrize("key", ["a", "order-1_2.3~!@#$%^&*()", "k" * 255])
def test_an_idempotency_key_of_visible_ascii_replays(client, buyer, key):
    headers = {**buyer, "Idempotency-Key": key}
    first = client.post("/payment/toss/create", json={"productId": "premium_reading"}, headers=headers)
    again = client.post("/payment/toss/create", json={"productId": "premium_reading"}, headers=headers)
    assert first.status_code == 201 and again.get_json()["orderId"] == first.get_json()["orderId"]


# --- Rate-limit keys never raise -------------------------------------------------------------

HOSTILE_BODIES = [
    b"[" * 10_000 + b"]" * 10_000,
    b'{"email": ' * 10_000,
    b"{" + b" " * 5_000_000 + b"}",
    b"\xff\xfe not utf-8",
    b'{"email": "\\ud800@example.com"}',
    b'{"email": ["a@example.com"]}',
]


def test_the_per_address_limit_holds_whatever_bodies_come_between(test_env, caplog):
    prefix = test_env["REDIS_KEY_PREFIX"] + f"rl-hostile-{secrets.token_hex(3)}:"
    # A day's window: the limiter's windows are fixed, and a minute's could turn over mid-test.
    app = create_app({**test_env, "RATE_LIMIT_MAGIC_LINK": "5 per day", "REDIS_KEY_PREFIX": prefix})
    client = app.test_client()
    email = f"target-{secrets.token_hex(4)}@example.com"
    valid = []
    with caplog.at_level(logging.WARNING):
        for n, body in enumerate(HOSTILE_BODIES):
            hostile = client.post(
                "/auth/magic-link",
                data=body,
                content_type="application/json",
                environ_base={"REMOTE_ADDR": f"10.99.1.{n}"},
            )
            assert hostile.status_code in (400, 413, 429), hostile.get_data(as_text=True)
            response = client.post(
                "/auth/magic-link", json={"email": email}, environ_base={"REMOTE_ADDR": f"10.99.2.{n}"}
            )
            valid.append(response.status_code)
    assert valid == [202] * 5 + [429]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]


# --- Body size, over real HTTP -------------------------------------------------------------


def test_a_body_past_the_limit_gets_a_413_the_sender_can_read(app, live_server):
    response = requests.post(
        f"{live_server.url}/auth/magic-link",
        data=b"x" * 200_000,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_a_chunked_body_past_the_limit_gets_a_413_the_sender_can_read(app, live_server):
    def chunks():
        for _ in range(50):
            yield b"x" * 4000

    response = requests.post(
        f"{live_server.url}/auth/magic-link", data=chunks(), headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_an_unread_body_does_not_cost_the_answer(app, live_server):
    response = requests.get(f"{live_server.url}/auth/me", data=b"x" * 60_000, timeout=10)
    assert response.status_code == 401 and response.json()["error"]["code"] == "UNAUTHORIZED"


def test_a_large_signed_stripe_event_is_accepted_on_the_webhook_route(app, live_server):
    event = stripe_event(type="charge.updated")
    event["data"]["object"]["description"] = "x" * 200_000
    body, signature = signed(event)
    response = requests.post(
        f"{live_server.url}/payment/stripe/webhook",
        data=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": signature},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert count(app, WebhookEvent) == 1


def test_a_webhook_past_its_own_limit_gets_a_413(app, live_server):
    response = requests.post(
        f"{live_server.url}/payment/toss/webhook",
        data=b"x" * (1024 * 1024 + 1),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 413 and response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert count(app, WebhookEvent) == 0


def test_users_are_untouched_by_refused_profiles(app, client, buyer):
    client.patch("/auth/me", json={"displayName": "bad\u0000"}, headers=buyer)
    with app.app_context():
        assert db.session.execute(sa.select(User.display_name)).scalar_one() is None
