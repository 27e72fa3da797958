"""The log of gateway API requests the sandbox received, for tests to read back."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

# What happened to a request:
#   executed           ran and succeeded (2xx)
#   rejected           ran, or reached the gateway, and was refused (auth, validation, business error)
#   replayed           an Idempotency-Key repeat answered with the stored first response
#   in_flight          an Idempotency-Key repeat while the first was still running (409)
#   injected_error500  failed by an injected fault, not executed (error500_saved: also kept under the key,
#                      so the repeats that follow are `replayed` 500s)
#   dropped            connection dropped by an injected fault, not executed
#   injected_timeout   held by an injected fault, then executed (see `executed`)
#   malformed          answered with its body cut short by an injected fault (`executed`: it ran;
#                      else it was a replay, and the key holds the whole answer)
# `executed` says whether the request reached the operation (it ran, whatever it answered).
OUTCOMES = (
    "executed",
    "rejected",
    "replayed",
    "in_flight",
    "injected_error500",
    "dropped",
    "injected_timeout",
    "malformed",
)


@dataclass(frozen=True)
class LoggedRequest:
    gateway: str
    method: str
    path: str
    operation: str | None
    idempotency_key: str | None
    outcome: str
    status: int | None
    executed: bool
    at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "gateway": self.gateway,
            "method": self.method,
            "path": self.path,
            "operation": self.operation,
            "idempotencyKey": self.idempotency_key,
            "outcome": self.outcome,
            "status": self.status,
            "executed": self.executed,
            "at": self.at,
        }


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []

    def record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self, gateway: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [e.to_json() for e in self._entries if gateway in (None, e.gateway)]

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()
