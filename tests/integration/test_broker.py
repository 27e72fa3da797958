"""Tasks are published through chatju.broker's transport: one Redis client per channel, on the real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
from flask import Flask

from chatju import broker
from chatju.jobs import producer, send


@pytest.fixture
def redis_app(app: Flask, redis_url: str) -> Flask:
    if not app.extensions["chatju.settings"].redis_url:
        pytest.fail("the app under test must use Redis here (the tests' REDIS_URL)")
    return app


def test_the_producer_publishes_through_our_transport(redis_app: Flask) -> None:
    with redis_app.app_context(), producer().connection_for_write() as connection:
        assert isinstance(connection.transport, broker.Transport)
        assert isinstance(connection.default_channel, broker.Channel)


def test_publishing_builds_one_client_and_every_message_arrives(
    redis_app: Flask, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[Any] = []
    acquire = broker.Channel.conn_or_acquire

    @contextmanager
    def recording(channel: broker.Channel, client: Any = None) -> Iterator[Any]:
        with acquire(channel, client) as got:
            used.append(got)
            yield got

    monkeypatch.setattr(broker.Channel, "conn_or_acquire", recording)
    settings = redis_app.extensions["chatju.settings"]
    queue = f"{settings.celery_queue}.nobody-consumes-this"
    with redis_app.app_context():
        for n in range(5):
            send("tests.not_a_task", (n,), queue=queue, ignore_result=True)
    assert len(used) >= 5 and len({id(client) for client in used}) == 1  # kombu's own builds one per message
    keys = redis.Redis.from_url(redis_url)
    assert keys.llen(f"{settings.redis_key_prefix}{queue}") == 5
    keys.delete(f"{settings.redis_key_prefix}{queue}")
