"""Waking a request that waits on a task: the task announces its commit, the request listens.

The create and confirm routes wait for their task's outcome on the payment's row. With Redis,
the task publishes on the payment's channel once its transaction has committed, and the waiting
request reads the row again at once instead of finding the outcome by polling. Without Redis (the
embedded default) the request looks again every POLL_SECONDS. A message is only a hint to look:
the row decides, and a message lost to a Redis hiccup costs at most RECHECK_SECONDS.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from chatju.config import Settings
from chatju.extensions import db

log = logging.getLogger(__name__)
EXTENSION = "chatju.wakeups"
PENDING = "chatju.pending_wakeups"
POLL_SECONDS = 0.1  # without Redis
RECHECK_SECONDS = 1.0  # with Redis, in case a message was lost
REDIS_TIMEOUT_SECONDS = 1.0


class Listener:
    """Waits for one topic's next announcement (or, without a channel, for the next poll)."""

    def __init__(self, pubsub: redis.client.PubSub | None) -> None:
        self._pubsub = pubsub

    def wait(self, seconds: float) -> bool:
        """Return when the topic is announced (True) or it is time to look again (False).

        That is at most `seconds`, and sooner without a channel (POLL_SECONDS) or with one
        (RECHECK_SECONDS, in case its message was lost).
        """
        if seconds <= 0:
            return False
        if self._pubsub is None:
            time.sleep(min(seconds, POLL_SECONDS))
            return False
        try:
            message = self._pubsub.get_message(ignore_subscribe_messages=True, timeout=min(seconds, RECHECK_SECONDS))
        except redis.RedisError as exc:
            log.warning("wake-up channel lost; polling instead", extra={"error": type(exc).__name__})
            self._close()
            time.sleep(min(seconds, POLL_SECONDS))
            return False
        return message is not None

    def _close(self) -> None:
        if self._pubsub is not None:
            self._pubsub.close()
            self._pubsub = None


class Wakeups:
    """One process's Redis client for announcing and listening, under the deployment's key prefix."""

    def __init__(self, client: redis.Redis | None, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    def channel(self, topic: str) -> str:
        return f"{self._prefix}wake:{topic}"

    @contextmanager
    def listen(self, topic: str) -> Iterator[Listener]:
        """Subscribe before the caller reads the row, so an announcement after that read is never missed."""
        pubsub = None
        if self._client is not None:
            try:
                pubsub = self._client.pubsub()  # type: ignore[no-untyped-call]
                pubsub.subscribe(self.channel(topic))
                # Confirmed before the caller reads the row: an announcement after that read reaches us.
                if pubsub.get_message(timeout=REDIS_TIMEOUT_SECONDS) is None:
                    raise redis.TimeoutError("no subscription confirmation")
            except redis.RedisError as exc:
                log.warning("wake-up channel unavailable; polling instead", extra={"error": type(exc).__name__})
                if pubsub is not None:
                    pubsub.close()
                pubsub = None
        listener = Listener(pubsub)
        try:
            yield listener
        finally:
            listener._close()

    def announce(self, topics: list[str]) -> None:
        """Publish each topic; a failure only delays the listener until its next look."""
        if self._client is None or not topics:
            return
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for topic in topics:
                    pipe.publish(self.channel(topic), b"1")
                pipe.execute()
        except redis.RedisError as exc:
            log.warning("could not announce a commit", extra={"error": type(exc).__name__})


def build(settings: Settings) -> Wakeups:
    if not settings.redis_url:
        return Wakeups(None, settings.redis_key_prefix)
    client = redis.Redis.from_url(
        settings.redis_url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )
    return Wakeups(client, settings.redis_key_prefix)


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions[EXTENSION] = build(settings)


def current() -> Wakeups:
    wakeups: Wakeups = current_app.extensions[EXTENSION]
    return wakeups


def payment_topic(payment_id: int) -> str:
    return f"payment:{payment_id}"


def announce_after_commit(topic: str) -> None:
    """Announce `topic` once the current transaction commits; forget it on rollback."""
    db.session().info.setdefault(PENDING, []).append(topic)


@event.listens_for(Session, "after_commit")
def _announce_pending(session: Session) -> None:
    topics = session.info.pop(PENDING, [])
    if topics:
        current().announce(topics)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(PENDING, None)
