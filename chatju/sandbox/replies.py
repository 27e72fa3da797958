"""A gateway API answer, serialised once so that a replay is byte-for-byte the same."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Response


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes

    @classmethod
    def json(cls, status: int, payload: Any) -> Reply:
        return cls(status, json.dumps(payload, ensure_ascii=False).encode())

    def response(self) -> Response:
        return Response(self.body, status=self.status, mimetype="application/json")
