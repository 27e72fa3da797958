"""A task enqueued by the app runs in a separate, real worker process, on either broker."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from chatju import create_app
from chatju.extensions import db
from chatju.webhooks.models import WebhookEvent
from tests.conftest import migrate
from tests.support.mail import sign_in_token, wait_for_mail
from tests.support.shopper import wait_until
from tests.support.stripe import intent_event, signed
from tests.support.worker import WorkerProcess


def embedded_env(test_env: dict[str, str], instance: Path) -> dict[str, str]:
    """The `make run` default: SQLite database, kombu's SQLAlchemy transport on SQLite."""
    return {
        **test_env,
        "CHATJU_INSTANCE_DIR": str(instance),
        "DATABASE_URL": f"sqlite:///{instance / 'chatju.sqlite'}",
        "REDIS_URL": "",
    }


def redis_env(test_env: dict[str, str], instance: Path, redis_url: str) -> dict[str, str]:
    return {
        **test_env,
        "CHATJU_INSTANCE_DIR": str(instance),
        "REDIS_URL": redis_url,
        "CELERY_QUEUE": f"{test_env['CELERY_QUEUE']}-worker-test",
    }


def sign_in_through(env: dict[str, str], instance: Path) -> int:
    """Ask for a link in the app; the worker mails it; the link signs in. Returns the worker pid."""
    migrate(env)
    worker = WorkerProcess(env, instance / "worker.log").start()
    try:
        client = create_app(env).test_client()
        assert client.post("/auth/magic-link", json={"email": "queue@example.com"}).status_code == 202
        token = sign_in_token(wait_for_mail(instance / "mail", "queue@example.com"))
        assert client.post("/auth/magic-link/verify", json={"token": token}).status_code == 200
        wait_until(lambda: "auth.send_magic_link" in worker.log() and "succeeded" in worker.log())
        assert token not in worker.log(), "the sign-in token leaked into the worker log"
        return worker.process.pid
    finally:
        worker.stop()


def test_embedded_broker_runs_tasks_in_a_real_worker(test_env, tmp_path):
    env = embedded_env(test_env, tmp_path)
    assert create_app(env).extensions["chatju.settings"].broker_url.startswith("sqla+sqlite:///")
    assert sign_in_through(env, tmp_path) > 0
    assert (tmp_path / "celery-broker.sqlite").exists()


def test_redis_broker_runs_tasks_in_a_real_worker(test_env, tmp_path, redis_url):
    env = redis_env(test_env, tmp_path, redis_url)
    assert sign_in_through(env, tmp_path) > 0


def test_a_task_sent_before_any_worker_runs_is_delivered_when_one_starts(test_env, tmp_path, redis_url):
    env = redis_env(test_env, tmp_path, redis_url)
    env["CELERY_QUEUE"] += "-late"
    migrate(env)
    client = create_app(env).test_client()
    assert client.post("/auth/magic-link", json={"email": "late@example.com"}).status_code == 202
    with pytest.raises(AssertionError):
        wait_for_mail(tmp_path / "mail", "late@example.com", timeout=0.5)
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        token = sign_in_token(wait_for_mail(tmp_path / "mail", "late@example.com"))
        assert client.post("/auth/magic-link/verify", json={"token": token}).status_code == 200
    finally:
        worker.stop()


def test_a_broker_that_refuses_the_task_is_a_503(test_env, tmp_path):
    env = {**test_env, "REDIS_URL": "redis://127.0.0.1:1/0", "CHATJU_INSTANCE_DIR": str(tmp_path)}
    response = create_app(env).test_client().post("/auth/magic-link", json={"email": "down@example.com"})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "SERVICE_UNAVAILABLE"


def test_a_worker_for_one_kind_runs_only_that_kind_and_a_worker_without_q_runs_the_rest(
    app, test_env, tmp_path, redis_url
):
    env = redis_env(test_env, tmp_path, redis_url)
    env["CELERY_QUEUE"] += "-kinds"
    migrate(env)
    web = create_app(env)
    client = web.test_client()
    event = intent_event(
        {"id": "pi_kinds", "metadata": {"order_id": "ord_notOursAtAll0000000000"}}, "payment_intent.succeeded"
    )

    def inbox_state() -> str:
        with web.app_context():
            query = sa.select(WebhookEvent.state).where(WebhookEvent.event_id == event["id"])
            return str(db.session.execute(query).scalar_one())

    effects = WorkerProcess(env, tmp_path / "effects.log", queues=[f"{env['CELERY_QUEUE']}.effects"]).start()
    try:
        body, header = signed(event)
        headers = {"Stripe-Signature": header}
        assert (
            client.post(
                "/payment/stripe/webhook", data=body, content_type="application/json", headers=headers
            ).status_code
            == 200
        )
        assert client.post("/auth/magic-link", json={"email": "kinds@example.com"}).status_code == 202
        wait_for_mail(tmp_path / "mail", "kinds@example.com")  # sent after the webhook: mail ran, the webhook did not
    finally:
        effects.stop()
    assert "Task webhooks.process[" not in effects.log()
    assert inbox_state() == "received"
    everything = WorkerProcess(env, tmp_path / "everything.log").start()
    try:
        wait_until(lambda: inbox_state() != "received")
    finally:
        everything.stop()
    assert inbox_state() == "ignored"
    queue = env["CELERY_QUEUE"]
    for name in (queue, *(f"{queue}.{kind}" for kind in ("webhooks", "gateways", "effects", "maintenance"))):
        assert f".> {name} exchange=" in everything.log()  # the banner's [queues]: every one, without -Q
