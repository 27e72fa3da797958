"""Periodic jobs, scheduled by beat (see chatju.jobs.celery_config)."""

from __future__ import annotations

from chatju.background import jobs
from tasks import app


@app.task(name="maintenance.reconcile")
def reconcile() -> dict[str, int]:
    return jobs.reconcile()


@app.task(name="maintenance.expire")
def expire() -> dict[str, int]:
    return jobs.expire()


@app.task(name="maintenance.redrive")
def redrive() -> dict[str, int]:
    return jobs.redrive()


@app.task(name="maintenance.prune")
def prune() -> dict[str, int]:
    return jobs.prune()
