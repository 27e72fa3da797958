"""Reading a request's JSON body into a pydantic model."""

from __future__ import annotations

from typing import TypeVar

from flask import request
from pydantic import BaseModel

from chatju.errors import APIError

M = TypeVar("M", bound=BaseModel)


def json_body(model: type[M]) -> M:
    """Parse the body as `model`: 415 unless JSON, 400 when malformed or invalid."""
    if not request.is_json:
        raise APIError(415, "UNSUPPORTED_MEDIA_TYPE", "The request body must be JSON (Content-Type: application/json).")
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise APIError(400, "VALIDATION_ERROR", "The request body is empty; a JSON object is expected.")
    # model_validate_json parses and validates in one pass and rejects a non-object body.
    return model.model_validate_json(raw)


def optional_json_body(model: type[M]) -> M:
    """Like `json_body`, but no body at all means the model's defaults."""
    if not request.get_data(cache=True).strip():
        return model()
    return json_body(model)
