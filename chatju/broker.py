"""Celery's Redis transport, with one Redis client per channel for publishing.

kombu's Redis channel builds a new `redis.Redis` client for every message it publishes
(`Channel.conn_or_acquire`); the client is cheap to use but not to build, about 0.3 ms of
every webhook acknowledgement. This channel builds it once and reuses it: a redis-py client is
safe to share, and its connections still come from the channel's pool. Producer and worker
both use it (`broker_transport` in `chatju.jobs.producer_config`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    @cached_property
    def _publishing_client(self) -> Any:
        return self._create_client()  # type: ignore[attr-defined]

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        yield client or self._publishing_client


class Transport(kombu_redis.Transport):
    Channel = Channel


TRANSPORT = f"{__name__}:Transport"
