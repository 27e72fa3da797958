"""Periodic jobs, scheduled by beat (see celeryconfig.py)."""

from __future__ import annotations

from chatju import maintenance
from chatju.jobs import TaskNames
from tasks import app


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
