"""The whole service as separate processes, on servers the tests may break.

A private PostgreSQL and Redis (tests/support/private.py), the gateway sandbox, `gunicorn
wsgi:app` and a Celery worker, each a real process; the test reaches the API over HTTP like
a client and reads the database through an app of its own. Used by tests/reliability/.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
import requests
import sqlalchemy as sa
from flask import Flask

from chatju import create_app
from chatju.api.tokens import access_token_for
from chatju.auth import service as auth_service
from chatju.extensions import db
from chatju.payments.models import Payment, PaymentEvent
from chatju.states import LedgerKind, PaymentStatus, is_paid
from chatju.webhooks.models import WebhookEvent
from tests.support.live import free_port
from tests.support.private import PrivatePostgres, PrivateRedis
from tests.support.sandbox import SandboxProcess
from tests.support.web import GunicornProcess
from tests.support.worker import WorkerProcess

JWT_SECRET = "reliability-signing-key-0123456789abcdef"
HTTP_TIMEOUT = 30
# Retries back off 1, 2, 4 s (plus up to 1 s of jitter): each wait stays inside the visibility timeout.
VISIBILITY_TIMEOUT_SECONDS = 8


def stack_env(root: Path, pg: PrivatePostgres, redis_server: PrivateRedis, sandbox: SandboxProcess) -> dict[str, str]:
    return {
        "CHATJU_ENV": "test",
        "CHATJU_INSTANCE_DIR": str(root / "instance"),
        "JWT_SECRET_KEY": JWT_SECRET,
        "DATABASE_URL": pg.url("chatju"),
        "REDIS_URL": redis_server.url,
        "REDIS_KEY_PREFIX": "chatju-reliability:",
        "CELERY_QUEUE": "chatju-reliability",
        "BROKER_VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY_TIMEOUT_SECONDS),
        "MAIL_URL": "",
        "LOG_LEVEL": "INFO",
        "TOSS_API_BASE": sandbox.toss_api_base,
        "STRIPE_API_BASE": sandbox.stripe_api_base,
        "GATEWAY_TIMEOUT_SECONDS": "2",
        "GATEWAY_RETRY_BACKOFF_SECONDS": "1",
        "GATEWAY_MAX_RETRIES": "3",
        "PAYMENT_SYNC_WAIT_SECONDS": "8",
        "RECONCILE_INTERVAL_SECONDS": "2",
        "RECONCILE_AFTER_SECONDS": "3",
        "RATE_LIMIT_PAYMENT": "100000 per minute",
        "RATE_LIMIT_WEBHOOK": "100000 per minute",
        "RATE_LIMIT_DEFAULT": "100000 per minute",
        "RATE_LIMIT_AUTH": "100000 per minute",
    }


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout}s")


class Stack:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.pg = PrivatePostgres()
        self.redis = PrivateRedis()
        web_port = free_port()
        self.sandbox = SandboxProcess(
            root / "sandbox.log",
            {
                "SANDBOX_TOSS_WEBHOOK_URL": f"http://127.0.0.1:{web_port}/payment/toss/webhook",
                "SANDBOX_STRIPE_WEBHOOK_URL": f"http://127.0.0.1:{web_port}/payment/stripe/webhook",
                "SANDBOX_WEBHOOK_RETRY_SECONDS": "0.5",
            },
        )
        self.env = stack_env(root, self.pg, self.redis, self.sandbox)
        self.web = GunicornProcess(self.env, root / "web.log", port=web_port)
        self.worker = WorkerProcess(self.env, root / "worker.log", concurrency=4)
        self.app: Flask | None = None
        self.http = requests.Session()

    def start(self) -> Stack:
        from tests.conftest import migrate

        self.pg.init().create_database("chatju")
        self.redis.start()
        self.sandbox.start()
        migrate(self.env)
        self.app = create_app(self.env)
        self.web.start()
        self.worker.start()
        return self

    def close(self) -> None:
        for stop in (self.worker.stop, self.web.stop, self.sandbox.stop, self.redis.close, self.pg.close):
            try:
                stop()
            except Exception as exc:  # keep closing the rest
                print(f"stack: {stop} failed: {exc!r}")

    def fresh(self) -> None:
        """Between tests: every server up, no faults, empty tables and queues, one live worker."""
        from tests.conftest import empty_tables

        if not self.pg.running():
            self.pg.start()
        if not self.redis.running():
            self.redis.start()
        self.sandbox.reset()
        redis.Redis.from_url(self.redis.url).flushall()  # our own server: nobody else's keys live there
        with self.flask.app_context():
            empty_tables()
        if not self.worker.running():
            self.worker.start()

    @property
    def flask(self) -> Flask:
        assert self.app is not None
        return self.app

    # Customers, over HTTP.

    def headers(self, email: str) -> dict[str, str]:
        with self.flask.app_context():
            user = auth_service.get_or_create_user(email)
            db.session.commit()
            return {"Authorization": f"Bearer {access_token_for(user)}"}

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
        return self.http.post(self.web.url + path, json=body, headers=headers, timeout=HTTP_TIMEOUT, **kwargs)

    def get(self, path: str, headers: dict[str, str] | None = None) -> requests.Response:
        return self.http.get(self.web.url + path, headers=headers, timeout=HTTP_TIMEOUT)

    def create_toss(self, headers: dict[str, str]) -> dict[str, Any]:
        response = self.post("/payment/toss/create", {"productId": "premium_reading"}, headers)
        assert response.status_code == 201, response.text
        return response.json()

    def checkout(self, order: dict[str, Any], card: str = "success") -> str:
        went = self.sandbox.checkout(
            order_id=order["orderId"],
            amount=order["amount"],
            order_name=order["orderName"],
            customer_key=order["customerKey"],
            card=card,
        )
        return str(went["params"]["paymentKey"])

    def confirm(self, order: dict[str, Any], payment_key: str, headers: dict[str, str]) -> requests.Response:
        body = {"paymentKey": payment_key, "orderId": order["orderId"], "amount": order["amount"]}
        return self.post("/payment/toss/confirm", body, headers)

    def toss_webhook(self, order_id: str, transmission_id: str, session: requests.Session | None = None) -> Any:
        """A Toss status webhook as Toss sends it; the service re-fetches, so the body's status is not trusted."""
        body = {
            "eventType": "PAYMENT_STATUS_CHANGED",
            "createdAt": "2026-11-30T20:00:00.000000",
            "data": {"orderId": order_id, "status": "DONE"},
        }
        headers = {"tosspayments-webhook-transmission-id": transmission_id}
        return (session or self.http).post(
            self.web.url + "/payment/toss/webhook", json=body, headers=headers, timeout=HTTP_TIMEOUT
        )

    # What the database holds.

    def payment(self, order_id: str) -> Payment:
        with self.flask.app_context():
            payment = db.session.execute(sa.select(Payment).where(Payment.order_id == order_id)).scalar_one()
            db.session.expunge(payment)
            return payment

    def status(self, order_id: str) -> str:
        return str(self.payment(order_id).status)

    def wait_for_status(self, order_id: str, status: str, timeout: float = 45) -> None:
        wait_for(lambda: self.status(order_id) == status, timeout, f"{order_id} to be {status}")

    def ledger(self, order_id: str) -> list[PaymentEvent]:
        with self.flask.app_context():
            rows = list(
                db.session.execute(
                    sa.select(PaymentEvent)
                    .join(Payment, Payment.id == PaymentEvent.payment_id)
                    .where(Payment.order_id == order_id)
                    .order_by(PaymentEvent.id)
                ).scalars()
            )
            db.session.expunge_all()
            return rows

    def transitions(self, order_id: str) -> list[tuple[str, str]]:
        return [
            (str(e.from_status), str(e.to_status)) for e in self.ledger(order_id) if e.kind == LedgerKind.TRANSITION
        ]

    def inbox(self) -> list[WebhookEvent]:
        with self.flask.app_context():
            events = list(db.session.execute(sa.select(WebhookEvent).order_by(WebhookEvent.id)).scalars())
            db.session.expunge_all()
            return events

    def scalar(self, query: Any) -> Any:
        with self.flask.app_context():
            return db.session.execute(query).scalar()

    # What the gateway did.

    def gateway_confirms(self) -> list[dict[str, Any]]:
        return [r for r in self.sandbox.requests_log(gateway="toss") if r["operation"] == "confirm"]

    def paid_at_toss(self, order: dict[str, Any], payment_key: str) -> dict[str, Any]:
        """Confirm at Toss directly: a payment whose confirm answer never reached us."""
        token = base64.b64encode(f"{self.sandbox.toss_secret_key}:".encode()).decode()
        body = {"paymentKey": payment_key, "orderId": order["orderId"], "amount": order["amount"]}
        response = requests.post(
            f"{self.sandbox.toss_api_base}/v1/payments/confirm",
            json=body,
            headers={"Authorization": f"Basic {token}"},
            timeout=HTTP_TIMEOUT,
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def toss_payments(self) -> dict[str, dict[str, Any]]:
        """The sandbox's own record of each order: the gateway's true state."""
        return {p["orderId"]: p for p in self.sandbox.control("GET", "/toss/payments")}


def ledger_disagreements(payment: Payment, events: list[PaymentEvent]) -> list[str]:
    """Where a payment's ledger does not add up to its row: an unbroken chain of moves, and the money.

    The transitions, replayed from PENDING, must end at the row's status; the amount moved into a
    paid state must be the order's amount exactly once (0 if unpaid); the last refund row, the
    row's refunded amount.
    """
    problems: list[str] = []
    status = PaymentStatus.PENDING
    paid_in = 0
    refunded = 0
    for event in (e for e in events if e.kind == LedgerKind.TRANSITION):
        if event.from_status != status:
            problems.append(f"row {event.id} moves from {event.from_status}, the ledger stood at {status}")
        if event.to_status is None:
            problems.append(f"row {event.id} moves nowhere")
            continue
        if is_paid(event.to_status) and not is_paid(status):
            paid_in += event.amount or 0
        if event.to_status in (PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED):
            refunded = event.amount or 0
        status = event.to_status
    if status != payment.status:
        problems.append(f"the ledger ends at {status}, the row says {payment.status}")
    expected = payment.amount if is_paid(payment.status) else 0
    if paid_in != expected:
        problems.append(f"the ledger took {paid_in} in, the row's amount paid is {expected}")
    if refunded != payment.refunded_amount:
        problems.append(f"the ledger refunded {refunded}, the row {payment.refunded_amount}")
    return problems
