"""Shared fixtures: a migrated database of this run, Redis, the app, a real worker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade

from chatju import create_app
from chatju.api.tokens import access_token_for
from chatju.auth import service as auth_service
from chatju.extensions import db
from tests.support import services
from tests.support.live import LiveServer, free_port
from tests.support.sandbox import SandboxProcess
from tests.support.worker import WorkerProcess

TEST_JWT_SECRET = "test-signing-key-of-this-run-0123456789abcdef"


def migrate(env: dict[str, str]) -> None:
    """Build the schema the way production does: Alembic, never create_all."""
    with create_app(env).app_context():
        upgrade()


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("instance")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """This run's own PostgreSQL database (created, migrated, dropped at the end)."""
    error = services.pg_reachable()
    if error:
        services.unavailable("PostgreSQL", error)
    url = services.create_database("main")
    yield url
    services.drop_database(url)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    error = services.redis_reachable()
    if error:
        services.unavailable("Redis", error)
    yield services.redis_server_url()
    services.delete_redis_keys(f"chatju-test:{services.RUN_ID}:")


@pytest.fixture(scope="session")
def live_port() -> int:
    """The port the app will be served on over HTTP (webhooks from the sandbox arrive there)."""
    return free_port()


@pytest.fixture(scope="session")
def sandbox(instance_dir: Path, live_port: int) -> Iterator[SandboxProcess]:
    """The gateway sandbox, a separate process spoken to over HTTP like the real gateways."""
    process = SandboxProcess(
        instance_dir / "sandbox.log",
        {
            "SANDBOX_TOSS_WEBHOOK_URL": f"http://127.0.0.1:{live_port}/payment/toss/webhook",
            "SANDBOX_STRIPE_WEBHOOK_URL": f"http://127.0.0.1:{live_port}/payment/stripe/webhook",
            "SANDBOX_WEBHOOK_RETRY_SECONDS": "0.2",
        },
    ).start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def test_env(request: pytest.FixtureRequest, instance_dir: Path, sandbox: SandboxProcess) -> dict[str, str]:
    """The environment of the app and the worker: PostgreSQL and Redis when reachable."""
    env = {
        "CHATJU_ENV": "test",
        "CHATJU_INSTANCE_DIR": str(instance_dir),
        "JWT_SECRET_KEY": TEST_JWT_SECRET,
        "CELERY_QUEUE": f"chatju-test-{services.RUN_ID}",
        "REDIS_KEY_PREFIX": f"chatju-test:{services.RUN_ID}:",
        "RATE_LIMIT_MAGIC_LINK": "1000 per minute",
        "RATE_LIMIT_AUTH": "1000 per minute",
        "LOG_LEVEL": "INFO",
        "REDIS_URL": "",
        "DATABASE_URL": f"sqlite:///{instance_dir / 'chatju.sqlite'}",
        "MAIL_URL": "",
        "TOSS_API_BASE": sandbox.toss_api_base,
        "STRIPE_API_BASE": f"{sandbox.base_url}/stripe",
        "GATEWAY_TIMEOUT_SECONDS": "2",
        "GATEWAY_RETRY_BACKOFF_SECONDS": "1",
        "GATEWAY_MAX_RETRIES": "4",
        "PAYMENT_SYNC_WAIT_SECONDS": "8",
        "RATE_LIMIT_PAYMENT": "10000 per minute",
        "RATE_LIMIT_WEBHOOK": "10000 per minute",
    }
    if services.pg_reachable() is None or services.services_required():
        env["DATABASE_URL"] = request.getfixturevalue("pg_database")
    if services.redis_reachable() is None or services.services_required():
        env["REDIS_URL"] = request.getfixturevalue("redis_url")
    migrate(env)
    return env


@pytest.fixture(scope="session")
def session_app(test_env: dict[str, str]) -> Flask:
    return create_app(test_env)


@pytest.fixture(scope="session")
def live_server(session_app: Flask, live_port: int) -> Iterator[LiveServer]:
    server = LiveServer(session_app, live_port).start()
    yield server
    server.stop()


@pytest.fixture
def app(session_app: Flask, sandbox: SandboxProcess) -> Iterator[Flask]:
    sandbox.reset()
    yield session_app
    sandbox.reset()  # first, so no webhook of this test lands after the tables are emptied
    with session_app.app_context():
        empty_tables()


def empty_tables(attempts: int = 5) -> None:
    """Empty every table; a worker still finishing a task may deadlock a TRUNCATE, so retry."""
    for attempt in range(attempts):
        try:
            _truncate()
            return
        except sa.exc.OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)


def _truncate() -> None:
    db.session.remove()
    tables = list(reversed(db.metadata.sorted_tables))
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(table.name for table in tables)
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_user(app: Flask) -> Any:
    def make(email: str = "user@example.com", admin: bool = False) -> int:
        with app.app_context():
            user = auth_service.get_or_create_user(email, make_admin=admin)
            db.session.commit()
            return user.id

    return make


@pytest.fixture
def auth_headers(app: Flask) -> Any:
    def headers(user_id: int) -> dict[str, str]:
        with app.app_context():
            user = db.session.get(auth_service.User, user_id)
            return {"Authorization": f"Bearer {access_token_for(user)}"}

    return headers


@pytest.fixture(scope="session")
def worker(test_env: dict[str, str], instance_dir: Path) -> Iterator[WorkerProcess]:
    """One real Celery worker on the test broker for the whole run."""
    process = WorkerProcess(test_env, instance_dir / "worker.log").start()
    yield process
    process.stop()


@pytest.fixture
def mail_dir(instance_dir: Path) -> Path:
    return instance_dir / "mail"
