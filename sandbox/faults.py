"""Injected failures and latency, applied in front of a gateway's API like a failing proxy.

Modes (each consumes one unit of its `count` on a matching request):
- `error500`: answer 500 at once; the request is not executed.
- `drop`: close the TCP connection without any response; the request is not executed.
- `error500_saved` (Stripe only: its idempotency layer replays saved 500s): pass auth
  and the Idempotency-Key check, then answer 500 without executing, and keep that 500
  under the request's key, so every retry with the key gets it replayed until the key
  expires. Logged as `injected_error500`, its replays as `replayed`.
- `error500_saved_executed` (Stripe only): the same, but the request is executed first:
  its effect is made (a refund exists), its answer is lost to the saved 500.
- `timeout`: hold the request `seconds`, then go on normally. The client has given
  up by then: its response is lost, its effect is not. A first execution is held with
  its Idempotency-Key already claimed, so a retry arriving meanwhile gets the gateway's
  "still processing" answer and a later one the replayed result; a held repeat answers
  with what its key holds after the hold. Logged as `injected_timeout`.
- `malformed`: go on normally (executed, or answered from its key), then cut the answer's
  body short, so it is no longer JSON; the status stays. The stored answer under the key
  is the real one: a retry with the key gets it whole. Logged as `malformed`, with
  `executed` saying whether the request ran.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from flask import Response, request

MODES = ("error500", "timeout", "drop", "malformed")
MALFORMED = "malformed"
SAVED_ERROR500 = "error500_saved"
EXECUTED_SAVED_ERROR500 = "error500_saved_executed"


@dataclass
class Fault:
    gateway: str
    mode: str
    count: int = 1
    operation: str | None = None
    seconds: float = 0.0

    def matches(self, gateway: str, operation: str | None) -> bool:
        return self.gateway == gateway and self.operation in (None, operation) and self.count > 0


class FaultBoard:
    """The pending faults and per-gateway latency; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._latency_ms: dict[str, int] = {}

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def set_latency(self, gateway: str, latency_ms: int) -> None:
        with self._lock:
            self._latency_ms[gateway] = latency_ms

    def latency_seconds(self, gateway: str) -> float:
        with self._lock:
            return self._latency_ms.get(gateway, 0) / 1000

    def take(self, gateway: str, operation: str | None) -> Fault | None:
        """Consume one unit of the oldest fault matching this request, if any."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(gateway, operation):
                    fault.count -= 1
                    self._faults = [f for f in self._faults if f.count > 0]
                    return Fault(fault.gateway, fault.mode, 1, fault.operation, fault.seconds)
        return None

    def clear(self, gateway: str | None = None) -> None:
        with self._lock:
            self._faults = [f for f in self._faults if gateway is not None and f.gateway != gateway]
            if gateway is None:
                self._latency_ms.clear()
            else:
                self._latency_ms.pop(gateway, None)

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {"faults": [asdict(f) for f in self._faults], "latencyMs": dict(self._latency_ms)}


def cut_short(body: bytes) -> bytes:
    """The first half of an answer (at least one byte): what a proxy hangs up in the middle of."""
    return body[: max(1, len(body) // 2)] if body else b"{"


def dropped_connection() -> Response:
    """A response that never reaches the client: the socket is shut down, nothing is written.

    The body iterator raises ConnectionAbortedError before the first byte; werkzeug's
    server treats that as a dropped connection and sends no status line. The client
    sees the connection closed without a response (requests: ConnectionError).
    """
    sock = request.environ.get("werkzeug.socket") or request.environ.get("gunicorn.socket")

    def body() -> Iterator[bytes]:
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):  # already closed by the client
                sock.shutdown(socket.SHUT_RDWR)
        raise ConnectionAbortedError("sandbox fault: connection dropped")
        yield b""  # pragma: no cover  (makes this a generator)

    return Response(body(), status=500, mimetype="application/json")
