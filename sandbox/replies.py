"""A gateway API answer, serialised once so that a replay is byte-for-byte the same."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Response


@dataclass(frozen=True)
class Reply:
    """`replayable=False`: not kept under the request's Idempotency-Key (Stripe: a parameter error)."""

    status: int
    body: bytes
    replayable: bool = True

    @classmethod
    def json(cls, status: int, payload: Any, replayable: bool = True) -> Reply:
        return cls(status, json.dumps(payload, ensure_ascii=False).encode(), replayable)

    def response(self) -> Response:
        return Response(self.body, status=self.status, mimetype="application/json")
