"""Removing secrets and personal data from gateway answers before they are kept or logged."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

PLACEHOLDER = "[redacted]"
# Redacted from every gateway's answers; each adapter adds its own fields.
PERSONAL_KEYS = frozenset({"secret", "email", "name", "phone", "address"})


def redactor(keys: frozenset[str]) -> Callable[[Any], Any]:
    """A function that copies a JSON value with the values under `keys` (and PERSONAL_KEYS) replaced, at any depth."""
    keys = keys | PERSONAL_KEYS

    def redact(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: PLACEHOLDER if k in keys and v is not None else redact(v) for k, v in value.items()}
        if isinstance(value, list):
            return [redact(item) for item in value]
        return value

    return redact
