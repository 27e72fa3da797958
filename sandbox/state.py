"""The sandbox's in-memory world: one `Sandbox` per app, shared by the gateway halves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, cast

from flask import current_app

from sandbox.config import SandboxConfig
from sandbox.faults import MODES, FaultBoard
from sandbox.idempotency import IdempotencyStore
from sandbox.requestlog import RequestLog
from sandbox.webhooks import DeliveryLog, WebhookSender

EXTENSION = "sandbox"


class GatewayState(Protocol):
    """A gateway half's own state (payments, intents): cleared by reset, stopped by close."""

    def reset(self) -> None: ...

    def close(self) -> None: ...


@dataclass
class Gateway:
    name: str
    operations: frozenset[str]
    state: GatewayState
    webhooks: WebhookSender
    fault_modes: tuple[str, ...] = MODES


@dataclass
class Sandbox:
    config: SandboxConfig
    faults: FaultBoard = field(default_factory=FaultBoard)
    idempotency: IdempotencyStore = field(default_factory=IdempotencyStore)
    requests: RequestLog = field(default_factory=RequestLog)
    deliveries: DeliveryLog = field(default_factory=DeliveryLog)
    gateways: dict[str, Gateway] = field(default_factory=dict)

    def add_gateway(self, gateway: Gateway) -> None:
        self.gateways[gateway.name] = gateway

    def reset(self) -> None:
        """Back to a fresh start: no payments, keys, faults, knobs or logs."""
        for gateway in self.gateways.values():
            gateway.state.reset()
            gateway.webhooks.reset()
        self.faults.clear()
        self.idempotency.reset()
        self.requests.reset()
        self.deliveries.reset()

    def close(self) -> None:
        """Stop the background threads (webhook senders, expiry sweepers)."""
        for gateway in self.gateways.values():
            gateway.state.close()
            gateway.webhooks.close()


def current_sandbox() -> Sandbox:
    return cast(Sandbox, current_app.extensions[EXTENSION])
