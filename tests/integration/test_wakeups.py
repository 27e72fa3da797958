"""The create and confirm routes are woken by their task's commit (chatju.wakeups), on the real Redis."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask

from chatju import wakeups
from chatju.extensions import db
from chatju.payments.service import create_order, wait_for

TOPIC = wakeups.payment_topic(987654321)


@pytest.fixture
def channel(app: Flask, redis_url: str) -> Iterator[wakeups.Wakeups]:
    """The app's own wake-ups, on the tests' Redis (whatever the app was configured with)."""
    prefix = app.extensions["chatju.settings"].redis_key_prefix
    real = wakeups.Wakeups(redis.Redis.from_url(redis_url), prefix)
    previous = app.extensions[wakeups.EXTENSION]
    app.extensions[wakeups.EXTENSION] = real
    yield real
    app.extensions[wakeups.EXTENSION] = previous


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_a_commit_that_announces_wakes_the_listener(app: Flask, channel: wakeups.Wakeups) -> None:
    def task() -> None:
        time.sleep(0.3)  # the listener is waiting by now
        with app.app_context():
            wakeups.announce_after_commit(TOPIC)
            db.session.commit()

    with app.app_context(), channel.listen(TOPIC) as listener:
        thread = threading.Thread(target=task)
        thread.start()
        woken = listener.wait(60)
        thread.join()
    assert woken  # by the announcement, not by the time to look again


def test_a_listener_with_nothing_announced_looks_again_without_being_woken(channel: wakeups.Wakeups) -> None:
    with channel.listen(TOPIC) as listener:
        started = time.monotonic()
        assert listener.wait(60) is False
        assert time.monotonic() - started < wakeups.RECHECK_SECONDS * 5  # a lost message costs one recheck


def test_a_rolled_back_announcement_is_never_sent(app: Flask, channel: wakeups.Wakeups, redis_url: str) -> None:
    watcher = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    watcher.subscribe(channel.channel(TOPIC))
    try:
        with app.app_context():
            wakeups.announce_after_commit(TOPIC)
            db.session.rollback()
            db.session.commit()  # a later commit does not carry the forgotten announcement
            assert watcher.get_message(timeout=1.0) is None
            wakeups.announce_after_commit(TOPIC)
            db.session.commit()
            message = watcher.get_message(timeout=5.0)
        assert message is not None and message["channel"].decode() == channel.channel(TOPIC)
    finally:
        watcher.close()


def test_announcements_are_scoped_to_the_deployments_prefix(channel: wakeups.Wakeups) -> None:
    other = wakeups.Wakeups(None, "someone-else:")
    assert channel.channel(TOPIC) != other.channel(TOPIC)
    assert channel.channel(TOPIC).endswith(f"wake:{TOPIC}")


def test_without_redis_the_listener_polls() -> None:
    with wakeups.Wakeups(None, "p:").listen(TOPIC) as listener:
        started = time.monotonic()
        assert listener.wait(60) is False
        assert time.monotonic() - started < 5  # one poll interval, not the whole wait


def test_a_redis_that_is_down_degrades_to_polling(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    dead = redis.Redis(host="127.0.0.1", port=_closed_port(), socket_connect_timeout=0.5, socket_timeout=0.5)
    down = wakeups.Wakeups(dead, "p:")
    with down.listen(TOPIC) as listener:
        started = time.monotonic()
        assert listener.wait(60) is False
        assert time.monotonic() - started < 5
    down.announce([TOPIC])  # logged, never raised into the task that committed
    assert any("polling instead" in r.getMessage() for r in caplog.records)
    assert any("could not announce" in r.getMessage() for r in caplog.records)


def test_a_route_waiting_on_its_task_holds_no_database_connection(app: Flask, make_user: Any) -> None:
    user_id = make_user("waiter@example.com")
    with app.app_context():
        payment = create_order(user_id, "toss", 5000, "KRW", "waiting")
        db.session.commit()
        payment_id = payment.id
    seen: list[int] = []

    def route() -> None:
        with app.app_context():
            wait_for(payment_id, lambda p: False, 1.5)
            db.session.rollback()

    thread = threading.Thread(target=route)
    thread.start()
    time.sleep(0.7)  # the route has read the row and is waiting
    with app.app_context():
        seen.append(db.engine.pool.checkedout())  # type: ignore[attr-defined]
    thread.join()
    assert seen == [0]
