"""A tiny webhook receiver on 127.0.0.1: records every POST, answers the statuses it is told."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    answered: int
    raw: bytes = b""

    @property
    def order_id(self) -> str | None:
        """Toss: the body's orderId; Stripe: the event object's `metadata.order_id`."""
        data = self.body.get("data", {})
        stripe_object = data.get("object", {})
        metadata = stripe_object.get("metadata") or {} if isinstance(stripe_object, dict) else {}
        return self.body.get("orderId") or data.get("orderId") or metadata.get("order_id")

    @property
    def event_type(self) -> str:
        """Toss: eventType (a deposit callback has none); Stripe: the event's type."""
        return self.body.get("eventType") or self.body.get("type") or "DEPOSIT_CALLBACK"

    @property
    def transmission_id(self) -> str:
        return self.headers["tosspayments-webhook-transmission-id"]


class WebhookReceiver:
    def __init__(self, path: str = "/payment/toss/webhook") -> None:
        self.path = path
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._answers: list[int] = []
        self.delay_seconds = 0.0  # how long each POST is held before it is answered
        self.in_flight = 0
        self.most_in_flight = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                receiver._arrived()
                time.sleep(receiver.delay_seconds)
                status = receiver._record(self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"

    def start(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def _arrived(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def _record(self, path: str, headers: dict[str, str], raw: bytes) -> int:
        with self._lock:
            self.in_flight -= 1
            status = self._answers.pop(0) if self._answers else 200
            self._received.append(Received(path, headers, json.loads(raw), status, raw))
            return status

    def answer_with(self, *statuses: int) -> None:
        """Answer the next POSTs with these statuses (then 200 again)."""
        with self._lock:
            self._answers = list(statuses)

    def reset(self) -> None:
        with self._lock:
            self._received.clear()
            self._answers.clear()
            self.delay_seconds = 0.0
            self.most_in_flight = self.in_flight

    def received(self, order_id: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._received if order_id in (None, r.order_id)]

    def wait_for(self, order_id: str, count: int, timeout: float = 5.0) -> list[Received]:
        """Wait until `count` POSTs about `order_id` have arrived; return them all."""
        return wait_until(lambda: self.received(order_id), lambda got: len(got) >= count, timeout)


def wait_until(
    read: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 5.0, interval: float = 0.02
) -> Any:
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        time.sleep(interval)
        value = read()
    return value
