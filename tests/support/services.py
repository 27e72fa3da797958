"""Real PostgreSQL and Redis for the tests: found, or skipped, or (in CI) required."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import pytest
import redis
from psycopg2 import sql
from sqlalchemy.engine import make_url

RUN_ID = f"{os.getpid()}_{secrets.token_hex(3)}"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def services_required() -> bool:
    return os.environ.get("CHATJU_REQUIRE_SERVICES") == "1"


def unavailable(what: str, error: Exception) -> None:
    """Fail under CHATJU_REQUIRE_SERVICES=1, else skip with the reason."""
    message = f"{what} is not reachable ({type(error).__name__}: {error})".strip()
    if services_required():
        pytest.fail(f"{message}; CHATJU_REQUIRE_SERVICES=1 makes this a failure")
    pytest.skip(message)


def pg_server_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_PG


def redis_server_url() -> str:
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS


def pg_reachable() -> Exception | None:
    try:
        psycopg2.connect(pg_server_url(), connect_timeout=3).close()
        return None
    except psycopg2.Error as exc:
        return exc


def redis_reachable() -> Exception | None:
    try:
        redis.Redis.from_url(redis_server_url(), socket_connect_timeout=2).ping()
        return None
    except redis.RedisError as exc:
        return exc


@contextmanager
def _admin_connection() -> Iterator[psycopg2.extensions.connection]:
    conn = psycopg2.connect(pg_server_url(), connect_timeout=3)
    conn.autocommit = True
    try:
        yield conn
    finally:
        conn.close()


def create_database(suffix: str) -> str:
    """Create an empty database of this run on the test server; return its URL."""
    name = f"chatju_test_{RUN_ID}_{suffix}"
    with _admin_connection() as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(pg_server_url()).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    name = make_url(url).database
    with _admin_connection() as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def delete_redis_keys(prefix: str) -> None:
    """Remove this run's keys only: the server is shared with other runs."""
    client = redis.Redis.from_url(redis_server_url())
    for key in client.scan_iter(match=f"{prefix}*", count=500):
        client.delete(key)
