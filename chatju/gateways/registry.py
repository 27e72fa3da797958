"""The one place that knows which gateways exist: a provider name to its adapter, from the settings.

Adding a gateway is its package under `chatju/gateways/` and one line in `BUILT_IN`.
The core asks `gateway(name)` for a payment's adapter; a name with no adapter is an
error at once, never another gateway's code.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app

from chatju.config import Settings
from chatju.gateways import stripe, toss
from chatju.gateways.port import Gateway, Recorder

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,19}$")  # fits the `provider` columns (20 characters)
EXTENSION = "chatju.gateways"


class UnknownProviderError(LookupError):
    """No adapter is registered, or enabled here, under this provider name."""


@dataclass(frozen=True)
class Registration:
    name: str
    build: Callable[[Settings, Recorder], Gateway]
    enabled: Callable[[Settings], bool]


BUILT_IN: tuple[Registration, ...] = (
    Registration(toss.NAME, toss.build, toss.enabled),
    Registration(stripe.NAME, stripe.build, stripe.enabled),
)
_registered: dict[str, Registration] = {}


def register(registration: Registration) -> None:
    """Make a gateway known (the built-in ones at import; another package may add its own)."""
    if not NAME_PATTERN.match(registration.name):
        raise ValueError(f"gateway name {registration.name!r} must match {NAME_PATTERN.pattern}")
    _registered[registration.name] = registration


def registered() -> tuple[str, ...]:
    return tuple(_registered)


def unregister(name: str) -> None:
    _registered.pop(name, None)


for _builtin in BUILT_IN:
    register(_builtin)


class Gateways:
    """The adapters of one app, built once from its settings."""

    def __init__(self, settings: Settings, recorder: Recorder) -> None:
        self._adapters: dict[str, Gateway] = {}
        for registration in _registered.values():
            if registration.enabled(settings):
                adapter = registration.build(settings, recorder)
                _check(registration.name, adapter)
                self._adapters[registration.name] = adapter

    def get(self, name: str) -> Gateway:
        try:
            return self._adapters[name]
        except KeyError:
            raise UnknownProviderError(f"no gateway {name!r} is enabled here") from None

    def names(self) -> tuple[str, ...]:
        return tuple(self._adapters)

    def all(self) -> tuple[Gateway, ...]:
        return tuple(self._adapters.values())


def _check(name: str, adapter: Gateway) -> None:
    """An adapter that lacks part of the port fails at start-up, not on the first payment."""
    missing = [member for member in _PORT_MEMBERS if not hasattr(adapter, member)]
    if missing or adapter.name != name:
        raise TypeError(f"gateway {name!r} does not implement the port: {', '.join(missing) or 'its name differs'}")


_PORT_MEMBERS = tuple(member for member in dir(Gateway) if not member.startswith("_")) + tuple(Gateway.__annotations__)


def init_app(app: Flask, settings: Settings, recorder: Recorder) -> None:
    app.extensions[EXTENSION] = Gateways(settings, recorder)


def gateways(app: Flask | None = None) -> Gateways:
    """The gateways of `app`, or of the running app."""
    found: Gateways = (app or current_app).extensions[EXTENSION]
    return found


def gateway(name: str) -> Gateway:
    """The adapter of provider `name`; UnknownProviderError when none is enabled."""
    return gateways().get(name)
