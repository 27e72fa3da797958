"""Reading a request's JSON body: into a pydantic model, or leniently for a rate-limit key."""

from __future__ import annotations

from typing import Any, TypeVar

import pydantic_core
from flask import request
from pydantic import BaseModel
from werkzeug.exceptions import HTTPException

from chatju.errors import APIError
from chatju.settings import current_settings

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


def peek_json_object() -> dict[str, Any]:
    """The body if it is a JSON object within the size limit, else {}; never raises (a rate-limit key).

    A key function that raised would make Flask-Limiter skip the limit (SPEC §9), so a
    body too large, too deep (pydantic_core's parser stops at its recursion limit) or not
    JSON at all is simply no object.
    """
    length = request.content_length
    if not request.is_json or length is None or length > current_settings().max_request_bytes:
        return {}
    try:
        body = pydantic_core.from_json(request.get_data(cache=True))
    except (ValueError, HTTPException, OSError):
        return {}
    return body if isinstance(body, dict) else {}
