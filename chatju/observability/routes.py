"""`GET /metrics`: Prometheus text for the whole system, unauthenticated as SPEC §4 says."""

from __future__ import annotations

from flask import Blueprint, Response
from flask.blueprints import BlueprintSetupState
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from chatju.api.docs import documented
from chatju.extensions import limiter
from chatju.observability import metrics, multiprocess
from chatju.observability.database import DatabaseCollector
from chatju.observability.multiprocess import SUBDIRECTORY

bp = Blueprint("metrics", __name__)


@bp.record_once
def _count_into_shared_directory(state: BlueprintSetupState) -> None:
    """Every process that builds the app (web, worker, CLI) counts where `/metrics` reads."""
    multiprocess.configure(state.app.extensions["chatju.settings"].instance_dir / SUBDIRECTORY)


@bp.get("/metrics")
@documented("Prometheus metrics of every process, in the text format", {200: None}, tags=("meta",))
@limiter.exempt
def scrape() -> Response:
    metrics.initialise()
    registry = multiprocess.registry()
    registry.register(DatabaseCollector())
    response = Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response
