"""Idempotency-Key storage shared by the gateways: first response replayed, in-flight detected.

A scope is whatever the gateway matches on (Toss: key, API key, path, method; Stripe:
key and API key). An optional fingerprint of the request lets a gateway refuse a reused
key with other parameters (Stripe does; Toss documents no such check, so it passes none).
Each claim may carry its own lifetime (Toss keeps keys 15 days, Stripe 24 hours).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from enum import Enum

from sandbox.replies import Reply

Scope = tuple[str, ...]
FIFTEEN_DAYS = 15 * 86400.0


class ClaimKind(Enum):
    NEW = "new"
    REPLAY = "replay"
    IN_FLIGHT = "in_flight"
    MISMATCH = "mismatch"


@dataclass(frozen=True)
class Claim:
    kind: ClaimKind
    reply: Reply | None = None


@dataclass
class _Entry:
    expires: float
    fingerprint: str | None
    reply: Reply | None = None


class IdempotencyStore:
    def __init__(self, ttl_seconds: float = FIFTEEN_DAYS) -> None:
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._entries: dict[Scope, _Entry] = {}

    def claim(self, scope: Scope, fingerprint: str | None = None, ttl_seconds: float | None = None) -> Claim:
        """Claim the key for a first execution, or say why it cannot run again."""
        now = time.monotonic()
        with self._lock:
            self._purge(now)
            entry = self._entries.get(scope)
            if entry is None:
                self._entries[scope] = _Entry(now + (self._ttl if ttl_seconds is None else ttl_seconds), fingerprint)
                return Claim(ClaimKind.NEW)
            if entry.fingerprint != fingerprint:
                return Claim(ClaimKind.MISMATCH)
            if entry.reply is None:
                return Claim(ClaimKind.IN_FLIGHT)
            return Claim(ClaimKind.REPLAY, entry.reply)

    def complete(self, scope: Scope, reply: Reply) -> None:
        with self._lock:
            entry = self._entries.get(scope)
            if entry is not None:
                entry.reply = reply

    def release(self, scope: Scope) -> None:
        """Forget a claim whose execution crashed, so a retry may run it."""
        with self._lock:
            entry = self._entries.get(scope)
            if entry is not None and entry.reply is None:
                del self._entries[scope]

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()

    def _purge(self, now: float) -> None:
        expired = [scope for scope, entry in self._entries.items() if now > entry.expires]
        for scope in expired:
            del self._entries[scope]
