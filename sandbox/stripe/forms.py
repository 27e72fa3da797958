"""Stripe's form encoding: `metadata[order_id]=42`, `expand[]=latest_charge`, `expand[0]=...`.

`parse` turns the pairs into nested dicts (an array is a dict of its indexes);
`Params` reads them with Stripe's validation errors, refusing unknown names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sandbox.stripe.errors import invalid, missing_parameter, unknown_parameter

_NAME = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")
_INDEX = re.compile(r"\[([^\[\]]*)\]")
_INTEGER = re.compile(r"-?[0-9]+")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_METADATA_KEYS, MAX_METADATA_KEY, MAX_METADATA_VALUE = 50, 40, 500

Tree = dict[str, Any]


def parse(pairs: Iterable[tuple[str, str]]) -> Tree:
    """Nested parameters from form pairs; `name[]` appends, a repeated plain name keeps the last."""
    tree: Tree = {}
    for name, value in pairs:
        match = _NAME.fullmatch(name)
        if match is None:
            raise invalid(f"Invalid parameter name: {name}", name)
        path = [match.group(1), *_INDEX.findall(match.group(2))]
        _insert(tree, name, path, value)
    return tree


def _insert(tree: Tree, name: str, path: list[str], value: str) -> None:
    node = tree
    for depth, segment in enumerate(path):
        last = depth == len(path) - 1
        if segment == "":
            if not last:
                raise invalid(f"Invalid parameter name: {name}", name)
            segment = str(len(node))
        if last:
            if isinstance(node.get(segment), dict):
                raise invalid(f"Invalid hash or array: {name} given both as a value and with [ ]", name)
            node[segment] = value
            return
        child = node.setdefault(segment, {})
        if not isinstance(child, dict):
            raise invalid(f"Invalid hash or array: {name} given both as a value and with [ ]", name)
        node = child


class Params:
    """The parameters of one request, read by name; anything not allowed is refused."""

    def __init__(self, tree: Tree, allowed: Iterable[str], prefix: str = "") -> None:
        self.tree, self.prefix = tree, prefix
        unknown = [name for name in tree if name not in set(allowed)]
        if unknown:
            raise unknown_parameter(self.param(unknown[0]))

    def param(self, name: str) -> str:
        """The name Stripe's errors use: `automatic_payment_methods[enabled]` inside a hash."""
        return f"{self.prefix}[{name}]" if self.prefix else name

    def __contains__(self, name: str) -> bool:
        return name in self.tree

    def text(self, name: str, max_length: int = 5000, required: bool = False) -> str | None:
        """A string; empty means unset, as in Stripe's form encoding."""
        value = self.tree.get(name)
        if value is None or value == "":
            if required:
                raise missing_parameter(self.param(name))
            return None
        if not isinstance(value, str):
            raise invalid(f"Invalid string: {name} must be a string, not a hash or array", self.param(name))
        if len(value) > max_length:
            message = f"Invalid string: {value[:20]}...; must be at most {max_length} characters"
            raise invalid(message, self.param(name))
        return value

    def integer(self, name: str, required: bool = False) -> int | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        if not _INTEGER.fullmatch(value):
            raise invalid(f"Invalid integer: {value}", self.param(name), "parameter_invalid_integer")
        number = int(value)
        if number < 1:
            message = "This value must be greater than or equal to 1."
            raise invalid(message, self.param(name), "parameter_invalid_integer")
        return number

    def boolean(self, name: str) -> bool | None:
        value = self.text(name)
        if value is None:
            return None
        if value not in ("true", "false"):
            raise invalid(f"Invalid boolean: {value}", self.param(name))
        return value == "true"

    def choice(self, name: str, choices: tuple[str, ...]) -> str | None:
        value = self.text(name)
        if value is not None and value not in choices:
            listed = ", ".join(choices[:-1]) + ("," if len(choices) > 2 else "") + f" or {choices[-1]}"
            raise invalid(f"Invalid {name}: must be one of {listed}", self.param(name))
        return value

    def email(self, name: str) -> str | None:
        value = self.text(name, max_length=800)
        if value is not None and not EMAIL.fullmatch(value):
            raise invalid(f"Invalid email address: {value}", self.param(name), "email_invalid")
        return value

    def strings(self, name: str) -> list[str] | None:
        """An array of strings (`name[]=a` or `name[0]=a`), in index order."""
        value = self.tree.get(name)
        if value is None or value == "":
            return None if value is None else []
        if not isinstance(value, dict) or not all(k.isdigit() and isinstance(v, str) for k, v in value.items()):
            raise invalid(f"Invalid array: {name} must be an array of strings", self.param(name))
        return [value[k] for k in sorted(value, key=int)]

    def hash(self, name: str, allowed: Iterable[str]) -> Params:
        """A nested hash with known keys only (`automatic_payment_methods[enabled]`)."""
        value = self.tree.get(name)
        if value is not None and value != "" and not isinstance(value, dict):
            raise invalid(f"Invalid hash: {name} must be a hash", self.param(name))
        return Params(value if isinstance(value, dict) else {}, allowed, self.param(name))

    def metadata(self) -> dict[str, str]:
        """Key/value strings; an empty value unsets its key."""
        value = self.tree.get("metadata")
        if value is None or value == "":
            return {}
        if not isinstance(value, dict):
            raise invalid("Invalid hash: metadata must be a hash of strings", "metadata")
        if len(value) > MAX_METADATA_KEYS:
            raise invalid(f"Invalid metadata: at most {MAX_METADATA_KEYS} keys", "metadata")
        for key, text in value.items():
            param = f"metadata[{key}]"
            if not isinstance(text, str):
                raise invalid(f"Invalid string: {param} must be a string, not a hash or array", param)
            if len(key) > MAX_METADATA_KEY:
                raise invalid(f"Metadata keys can be at most {MAX_METADATA_KEY} characters", param)
            if len(text) > MAX_METADATA_VALUE:
                raise invalid(f"Metadata values can be at most {MAX_METADATA_VALUE} characters", param)
        return {key: text for key, text in value.items() if text != ""}
