"""Outgoing webhooks: one background sender per gateway, with a retry schedule and knobs.

Delivery never happens inside an API request: `emit` only queues. A delivery fails on
an answer the gateway does not count as delivered (Toss: anything but 200; Stripe: any
non-2xx) or no answer within the timeout, and is retried after 1, 4, 16, 64, 256, 1024
and 4096 times `retry_base` seconds (Toss: minutes), or the first few of those steps
(Stripe in test mode: 3 retries). By default deliveries go out one at a time, in order, so
tests see a deterministic sequence.

Knobs (`WebhookSettings`):
- duplicate: each event is delivered twice with the same delivery id, as when the
  gateway re-sends one delivery (Toss: same `tosspayments-webhook-transmission-id`;
  Stripe: same event id).
- delay_seconds: each event waits this long before its first attempt.
- reorder: an event is held until the next one comes (or `delay_seconds`, default 1 s,
  passes); the held batch then goes out newest first.
- paused: events queue without being sent; unpausing sends them in order (paused
  wins over reorder and delay).
- senders: how many deliveries are on the wire at once (default 1). Above 1, events go
  out concurrently and may arrive out of order, as the gateways' own do under load.
The URL is read at each attempt, so retries follow a changed `url`.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import requests

from sandbox.clock import utc_stamp

log = logging.getLogger("sandbox.webhooks")

RETRY_MINUTES = (1, 4, 16, 64, 256, 1024, 4096)
REORDER_HOLD_SECONDS = 1.0


@dataclass
class WebhookSettings:
    url: str
    duplicate: bool = False
    delay_seconds: float = 0.0
    reorder: bool = False
    paused: bool = False
    senders: int = 1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    event_type: str
    order_id: str | None
    payload: dict[str, Any]
    body: bytes
    generation: int
    retried: int = 0


# The gateway-specific headers of one attempt (Toss: transmission id, time, retried count;
# Stripe: the signature, made anew for each attempt).
HeaderBuilder = Callable[[Delivery], dict[str, str]]


def answered_200(status: int) -> bool:
    return status == 200


class DeliveryLog:
    """Every delivery attempt of every gateway, oldest first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self, gateway: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._entries if gateway in (None, e["gateway"])]

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass
class _Queues:
    due: list[tuple[float, int, Delivery]] = field(default_factory=list)
    held: list[list[Delivery]] = field(default_factory=list)  # paused: events in order
    reorder: list[list[Delivery]] = field(default_factory=list)  # reorder: the held batch
    reorder_deadline: float | None = None


class WebhookSender:
    """Queues and delivers one gateway's webhooks from `senders` background threads (one by default)."""

    def __init__(
        self,
        gateway: str,
        default_url: str,
        headers: HeaderBuilder,
        log: DeliveryLog,
        retry_base: float,
        timeout: float,
        retry_steps: tuple[int, ...] = RETRY_MINUTES,
        delivered: Callable[[int], bool] = answered_200,
    ) -> None:
        self.gateway = gateway
        self._default_url = default_url
        self._headers = headers
        self._log = log
        self._retry_base = retry_base
        self._timeout = timeout
        self._retry_steps = retry_steps
        self._delivered = delivered
        self._cond = threading.Condition()
        self._settings = WebhookSettings(default_url)
        self._queues = _Queues()
        self._seq = itertools.count()
        self._generation = 0
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._sending = 0

    def settings(self) -> WebhookSettings:
        with self._cond:
            return replace(self._settings)

    def configure(self, **changes: Any) -> WebhookSettings:
        """Change knobs; unpausing releases the queued events, ending reorder flushes its batch."""
        with self._cond:
            self._settings = replace(self._settings, **changes)
            if not self._settings.paused:
                for event in self._queues.held:
                    self._schedule(event, time.monotonic())
                self._queues.held.clear()
            if not self._settings.reorder:
                self._flush_reorder()
            self._cond.notify_all()
            return replace(self._settings)

    def emit(self, event_type: str, order_id: str | None, payload: dict[str, Any], delivery_id: str) -> None:
        """Queue one event (two deliveries of the same id when `duplicate` is on)."""
        body = json.dumps(payload, ensure_ascii=False).encode()
        with self._cond:
            first = Delivery(delivery_id, event_type, order_id, payload, body, self._generation)
            event = [first, first] if self._settings.duplicate else [first]
            self._route(event)
            self._ensure_threads()
            self._cond.notify_all()

    def reset(self) -> None:
        """Forget queued events, retries and knobs.

        An attempt already on the wire is waited for (at most the delivery timeout) and not
        logged, so nothing sent before a reset reaches the receiver after it returns.
        """
        with self._cond:
            self._generation += 1
            self._queues = _Queues()
            self._settings = WebhookSettings(self._default_url)
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._sending == 0, timeout=self._timeout + 1)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=self._timeout + 1)

    def _route(self, event: list[Delivery]) -> None:
        now = time.monotonic()
        if self._settings.paused:
            self._queues.held.append(event)
        elif self._settings.reorder:
            self._queues.reorder.append(event)
            if len(self._queues.reorder) >= 2:
                self._flush_reorder()
            else:
                self._queues.reorder_deadline = now + (self._settings.delay_seconds or REORDER_HOLD_SECONDS)
        else:
            self._schedule(event, now + self._settings.delay_seconds)

    def _flush_reorder(self) -> None:
        now = time.monotonic()
        for event in reversed(self._queues.reorder):
            self._schedule(event, now)
        self._queues.reorder.clear()
        self._queues.reorder_deadline = None

    def _schedule(self, event: list[Delivery], due: float) -> None:
        for delivery in event:
            heapq.heappush(self._queues.due, (due, next(self._seq), delivery))

    def _ensure_threads(self) -> None:
        """Start senders up to the knob (held under the condition); extra ones stay idle if it is lowered."""
        while len(self._threads) < self._settings.senders:
            name = f"webhooks-{self.gateway}-{len(self._threads) + 1}"
            thread = threading.Thread(target=self._run, args=(len(self._threads),), name=name, daemon=True)
            self._threads.append(thread)
            thread.start()

    def _run(self, number: int) -> None:
        while True:
            with self._cond:
                delivery = self._next_due(number)
                if delivery is None:
                    return
                url = self._settings.url
                self._sending += 1
            try:
                self._attempt(delivery, url)
            finally:
                with self._cond:
                    self._sending -= 1
                    self._cond.notify_all()

    def _next_due(self, number: int = 0) -> Delivery | None:
        """Wait (holding the condition) for the next delivery due to sender `number`; None once closed."""
        while not self._closed:
            if number >= self._settings.senders:  # the knob was lowered: this sender rests
                self._cond.wait()
                continue
            now = time.monotonic()
            deadline = self._queues.reorder_deadline
            if deadline is not None and deadline <= now:
                self._flush_reorder()
            if self._queues.due and self._queues.due[0][0] <= now:
                return heapq.heappop(self._queues.due)[2]
            wake = [t for t in (deadline, self._queues.due[0][0] if self._queues.due else None) if t is not None]
            self._cond.wait(timeout=max(0.0, min(wake) - now) if wake else None)
        return None

    def _attempt(self, delivery: Delivery, url: str) -> None:
        at = utc_stamp()
        status, error = self._post(delivery, url)
        with self._cond:
            if delivery.generation != self._generation:
                return
            self._log.record(self._log_entry(delivery, url, at, status, error))
            failed = status is None or not self._delivered(status)
            if failed and delivery.retried < len(self._retry_steps):
                wait = self._retry_steps[delivery.retried] * self._retry_base
                self._schedule([replace(delivery, retried=delivery.retried + 1)], time.monotonic() + wait)
                self._cond.notify_all()

    def _post(self, delivery: Delivery, url: str) -> tuple[int | None, str | None]:
        try:
            response = requests.post(
                url, data=delivery.body, headers=self._headers(delivery), timeout=self._timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            log.info("webhook %s to %s failed: %s", delivery.delivery_id, url, type(exc).__name__)
            return None, f"{type(exc).__name__}: {exc}"
        response.close()
        log.info("webhook %s to %s answered %s", delivery.delivery_id, url, response.status_code)
        return response.status_code, None

    def _log_entry(
        self, delivery: Delivery, url: str, at: str, status: int | None, error: str | None
    ) -> dict[str, Any]:
        return {
            "gateway": self.gateway,
            "transmissionId": delivery.delivery_id,
            "eventType": delivery.event_type,
            "orderId": delivery.order_id,
            "url": url,
            "attempt": delivery.retried + 1,
            "status": status,
            "error": error,
            "at": at,
            "body": delivery.payload,
        }
