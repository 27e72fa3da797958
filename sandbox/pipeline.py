"""What every gateway API request goes through, in this order:

latency → injected fault (error500 / drop) → authentication → Idempotency-Key
(replay, in-flight, mismatch) → timeout hold → execution (or a saved injected 500,
after the execution with `error500_saved_executed`) → stored for replay → logged →
the answer (cut short by a `malformed` fault). Each gateway supplies its own shapes,
key scope, key lifetime and extra response headers through an `ApiProfile`.

Every response an execution produces is stored under its Idempotency-Key and replayed
with the same status and bytes, refusals (4xx) included, as Toss says "the first
response" is returned, unless the reply says it is not replayable (Stripe's parameter
errors). Not stored: injected faults in front (error500, drop: a retry with the key
executes), authentication failures and an invalid key. The `error500_saved` fault is
stored: it stands for a gateway failing after execution began (Stripe replays those).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from flask import Response, request

from sandbox.clock import utc_stamp
from sandbox.faults import EXECUTED_SAVED_ERROR500, MALFORMED, SAVED_ERROR500, Fault, cut_short, dropped_connection
from sandbox.idempotency import ClaimKind, Scope
from sandbox.replies import Reply
from sandbox.requestlog import LoggedRequest
from sandbox.state import current_sandbox


class ApiProfile(Protocol):
    """How one gateway authenticates, names its idempotency header and words its errors."""

    gateway: str
    idempotency_ttl_seconds: float

    def authenticate(self) -> Reply | str:
        """The API key of the current request, or the error reply refusing it."""
        ...

    def idempotency_key(self) -> Reply | str | None:
        """The current request's Idempotency-Key (None: absent), or the error reply refusing it."""
        ...

    def idempotency_scope(self, key: str, api_key: str) -> Scope:
        """What a key is matched on (Toss: also path and method; Stripe: key and account)."""
        ...

    def fingerprint(self) -> str | None:
        """What a reused key must match besides its scope (None: nothing)."""
        ...

    def response_headers(self, outcome: str) -> dict[str, str]:
        """Headers added to an answer (Stripe: `Idempotent-Replayed` on a replay)."""
        ...

    def in_flight(self) -> Reply: ...

    def key_reused(self) -> Reply: ...

    def internal_error(self) -> Reply: ...


class _Call:
    """One request's passage through the pipeline, logged once at the end."""

    def __init__(self, profile: ApiProfile, operation: str | None, fault: Fault | None = None) -> None:
        self.profile = profile
        self.operation = operation
        # Logged as sent, even when a fault or a refusal stops the request before it is read.
        self.key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        self.hold = fault.seconds if fault is not None and fault.mode == "timeout" else 0.0
        self.held = False
        self.saved_error = fault is not None and fault.mode in (SAVED_ERROR500, EXECUTED_SAVED_ERROR500)
        self.executes = fault is not None and fault.mode == EXECUTED_SAVED_ERROR500
        self.malformed = fault is not None and fault.mode == MALFORMED

    def wait(self) -> None:
        """Serve an injected timeout: hold the request (once) before it goes on."""
        if self.hold and not self.held:
            time.sleep(self.hold)
            self.held = True

    def _logged(self, outcome: str) -> str:
        if self.malformed:
            return MALFORMED
        return "injected_timeout" if self.held else outcome

    def finish(self, outcome: str, reply: Reply | None, executed: bool = False) -> Response:
        self.wait()
        current_sandbox().requests.record(
            LoggedRequest(
                gateway=self.profile.gateway,
                method=request.method,
                path=request.path,
                operation=self.operation,
                idempotency_key=self.key,
                outcome=self._logged(outcome),
                status=None if reply is None else reply.status,
                executed=executed,
                at=utc_stamp(),
            )
        )
        if reply is None:
            return dropped_connection()
        if self.malformed:
            reply = Reply(reply.status, cut_short(reply.body), replayable=False)
        response = reply.response()
        response.headers.update(self.profile.response_headers(outcome))
        return response


def handle(profile: ApiProfile, operation: str | None, execute: Callable[[], Reply]) -> Response:
    """Run one API request of `profile`'s gateway through faults, auth and idempotency."""
    sandbox = current_sandbox()
    latency = sandbox.faults.latency_seconds(profile.gateway)
    if latency:
        time.sleep(latency)
    fault = sandbox.faults.take(profile.gateway, operation)
    call = _Call(profile, operation, fault)
    if fault is not None and fault.mode == "error500":
        return call.finish("injected_error500", profile.internal_error())
    if fault is not None and fault.mode == "drop":
        return call.finish("dropped", None)
    api_key = profile.authenticate()
    if isinstance(api_key, Reply):
        return call.finish("rejected", api_key)
    key = profile.idempotency_key() if request.method == "POST" else None
    if isinstance(key, Reply):
        return call.finish("rejected", key)
    if key is None:
        return _execute(call, execute, None)
    return _execute_once(call, execute, (profile.gateway, *profile.idempotency_scope(key, api_key)))


def refuse(profile: ApiProfile, operation: str | None, reply: Reply) -> Response:
    """Answer `reply` without going further (an unknown route), and log it."""
    return _Call(profile, operation).finish("rejected", reply)


def _execute_once(call: _Call, execute: Callable[[], Reply], scope: Scope) -> Response:
    store = current_sandbox().idempotency
    fingerprint = call.profile.fingerprint()
    ttl = call.profile.idempotency_ttl_seconds
    claim = store.claim(scope, fingerprint, ttl)
    if claim.kind is not ClaimKind.NEW and call.hold:
        call.wait()  # a held repeat answers with what the key holds after the hold
        claim = store.claim(scope, fingerprint, ttl)
    if claim.kind is ClaimKind.REPLAY and claim.reply is not None:
        return call.finish("replayed", claim.reply)
    if claim.kind is ClaimKind.IN_FLIGHT:
        return call.finish("in_flight", call.profile.in_flight())
    if claim.kind is ClaimKind.MISMATCH:
        return call.finish("rejected", call.profile.key_reused())
    return _execute(call, execute, scope)


def _execute(call: _Call, execute: Callable[[], Reply], scope: Scope | None) -> Response:
    store = current_sandbox().idempotency
    try:
        call.wait()  # with the key claimed: a repeat meanwhile is "still processing"
        if call.executes:
            execute()  # the effect is made; its answer is lost to the saved 500
        reply = call.profile.internal_error() if call.saved_error else execute()
    except BaseException:
        if scope is not None:
            store.release(scope)
        raise
    if scope is not None and reply.replayable:
        store.complete(scope, reply)
    elif scope is not None:
        store.release(scope)
    if call.saved_error:
        return call.finish("injected_error500", reply, executed=call.executes)
    return call.finish("executed" if reply.status < 400 else "rejected", reply, executed=True)
