"""Periodic jobs, scheduled by beat (see celeryconfig.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from celery import Task

from chatju import maintenance
from chatju.jobs import TaskNames
from tasks import app

DRIFT_RETRIES = 3
DRIFT_RETRY_SECONDS = 900


@app.task(name=TaskNames.RECONCILE)
def reconcile() -> dict[str, int]:
    return maintenance.reconcile()


@app.task(name=TaskNames.EXPIRE)
def expire() -> dict[str, int]:
    return maintenance.expire()


@app.task(name=TaskNames.REDRIVE)
def redrive() -> dict[str, int]:
    return maintenance.redrive()


@app.task(name=TaskNames.PRUNE)
def prune() -> dict[str, int]:
    return maintenance.prune()


@app.task(name=TaskNames.DRIFT, bind=True, max_retries=DRIFT_RETRIES)
def drift(self: Task[Any, Any], day_of: str | None = None) -> dict[str, int]:
    """The drift report for the previous UTC day; a run a gateway failed is tried again, for the same day."""
    day = datetime.fromisoformat(day_of) if day_of else datetime.now(UTC)
    counts = maintenance.drift(day)
    if counts.get("failed") and self.request.retries < DRIFT_RETRIES:
        raise self.retry(kwargs={"day_of": day.isoformat()}, countdown=DRIFT_RETRY_SECONDS)
    return counts
