"""OpenAPI 3.1 for the JSON API, generated from the pydantic models the routes validate with.

Each route declares its operation with `@documented(...)` — the same request
model it hands to `json_body`, its query model, and its response models — and
`GET /openapi.json` assembles the document from the app's URL map, so the
description cannot drift from the code that validates requests.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, current_app, jsonify
from pydantic import BaseModel

from chatju.api.responses import ErrorBody
from chatju.extensions import limiter

F = TypeVar("F", bound=Callable[..., Any])
bp = Blueprint("docs", __name__)
REF = "#/components/schemas/{model}"
STATUS_TEXT = {
    200: "OK", 201: "Created", 202: "Accepted", 400: "Invalid request", 401: "Not signed in or bad token",
    403: "Not allowed", 404: "Not found", 409: "Conflict with the current state", 413: "Body too large",
    415: "Body is not JSON", 429: "Rate limited", 500: "A bug on our side", 502: "The gateway refused",
    503: "Unavailable; retry",
}  # fmt: skip


@dataclass(frozen=True)
class Operation:
    summary: str
    responses: dict[int, type[BaseModel] | None]
    body: type[BaseModel] | None = None
    body_required: bool = True  # False: an empty body means the model's defaults
    any_json_body: bool = False  # webhooks: any JSON object (the gateway's shape, verified by the handler)
    query: type[BaseModel] | None = None
    auth: bool = False
    headers: dict[str, str] = field(default_factory=dict)  # name -> description, all optional unless listed
    required_headers: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    errors: tuple[int, ...] = ()  # error statuses beyond those implied by auth, body, query and path


ALWAYS = (429, 500, 503)  # rate limits, bugs, an unreachable database or broker


def documented(summary: str, responses: dict[int, type[BaseModel] | None], **options: Any) -> Callable[[F], F]:
    """Attach the operation's description to the view (place it right under the route decorator)."""

    def attach(view: F) -> F:
        view.__openapi__ = Operation(summary=summary, responses=responses, **options)  # type: ignore[attr-defined]
        return view

    return attach


def build(app: Flask) -> dict[str, Any]:
    components: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        operation = getattr(app.view_functions[rule.endpoint], "__openapi__", None)
        if operation is None:
            continue  # pages and static files are not part of the JSON API
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(operation, rule.arguments, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ChatJu Payments",
            "version": "1.0.0",
            "description": "Toss Payments and Stripe behind one JSON API.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def _operation(op: Operation, path_args: set[str], components: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"summary": op.summary, "tags": list(op.tags), "parameters": []}
    for name in sorted(path_args):
        result["parameters"].append({"name": name, "in": "path", "required": True, "schema": {"type": "string"}})
    if op.query is not None:
        result["parameters"] += _query_parameters(op.query, components)
    for name, description in op.headers.items():
        result["parameters"].append(
            {"name": name, "in": "header", "required": name in op.required_headers, "description": description,
             "schema": {"type": "string"}}
        )  # fmt: skip
    if op.body is not None:
        result["requestBody"] = _json_content(_schema(op.body, components), required=op.body_required)
    elif op.any_json_body:
        result["requestBody"] = _json_content({"type": "object"}, required=True)
    if op.auth:
        result["security"] = [{"bearerAuth": []}]
    result["responses"] = _responses(op, _error_statuses(op, bool(path_args)), components)
    return result


def _error_statuses(op: Operation, has_path_args: bool) -> set[int]:
    statuses = set(ALWAYS) | set(op.errors)
    if op.auth:
        statuses.add(401)
    if op.body is not None or op.any_json_body:
        statuses |= {400, 413, 415}
    if op.query is not None:
        statuses.add(400)
    if has_path_args:
        statuses.add(404)
    return statuses - set(op.responses)


def _responses(op: Operation, errors: set[int], components: dict[str, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, model in op.responses.items():
        entry: dict[str, Any] = {"description": STATUS_TEXT.get(status, "Response")}
        if model is not None:
            entry["content"] = {"application/json": {"schema": _schema(model, components)}}
        responses[str(status)] = entry
    error = {"application/json": {"schema": _schema(ErrorBody, components)}}
    for status in sorted(errors):
        entry = {
            "description": STATUS_TEXT.get(status, "Error") + " ({error: {code, message, details?}})",
            "content": error,
        }
        if status == 429:
            entry["headers"] = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
        responses[str(status)] = entry
    return responses


def _json_content(schema: dict[str, Any], required: bool) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    """A $ref to the model, its definitions collected under components/schemas."""
    schema = model.model_json_schema(ref_template=REF, mode="validation")
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    components[model.__name__] = schema
    return {"$ref": REF.format(model=model.__name__)}


def _query_parameters(model: type[BaseModel], components: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


@bp.get("/openapi.json")
@documented("This description", {200: None}, tags=("meta",))
@limiter.exempt
def openapi() -> Response:
    return jsonify(build(current_app))
