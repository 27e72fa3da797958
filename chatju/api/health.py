"""Liveness and readiness probes."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify

from chatju import jobs
from chatju.api import responses
from chatju.api.docs import documented
from chatju.extensions import db, limiter

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
@documented("Liveness", {200: responses.Status}, tags=("health",))
@limiter.exempt
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
@documented("Readiness: database and broker", {200: responses.Readiness, 503: responses.Readiness}, tags=("health",))
@limiter.exempt
def readyz() -> tuple[Response, int]:
    checks = {"database": _database_ok(), "broker": jobs.broker_reachable()}
    ready = all(checks.values())
    body = {"status": "ok" if ready else "unavailable", "checks": {k: "ok" if v else "fail" for k, v in checks.items()}}
    return jsonify(body), 200 if ready else 503


def _database_ok() -> bool:
    try:
        db.session.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.SQLAlchemyError as exc:
        log.warning("database not ready", extra={"error": type(exc).__name__})
        db.session.rollback()
        return False
