"""`GET /metrics`: Prometheus text for the whole system, unauthenticated as SPEC §4 says."""

from __future__ import annotations

from flask import Blueprint, Response
from flask.blueprints import BlueprintSetupState
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from chatju.api.docs import documented
from chatju.extensions import limiter
from chatju.fulfilment import gauges as outbox_gauges
from chatju.gateways.registry import gateways
from chatju.observability import metrics, multiprocess
from chatju.observability.database import DatabaseCollector
from chatju.observability.multiprocess import SUBDIRECTORY
from chatju.payments import gauges as payment_gauges
from chatju.payments.drift import gauges as drift_gauges
from chatju.webhooks import gauges as inbox_gauges

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
    readers = [inbox_gauges.read, payment_gauges.read, outbox_gauges.read, drift_gauges.read]
    registry.register(DatabaseCollector(readers, gateways().names()))
    response = Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response
