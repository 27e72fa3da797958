"""The periodic jobs beat runs (SPEC §6), each made of the steps its domains provide.

reconcile, expire and the daily drift report are the payments' own; redrive and prune
gather a step from each domain that keeps something to re-drive or to forget. Every job holds its lock for the
run (chatju.periodic), so two beats never do the same work.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta

from chatju.auth import blocklist, sign_ins
from chatju.auth.service import prune_links
from chatju.db import utcnow
from chatju.extensions import db
from chatju.fulfilment import maintenance as outbox
from chatju.gateways.audit import prune_responses
from chatju.gateways.registry import gateways
from chatju.idempotency.service import prune as prune_keys
from chatju.observability import metrics
from chatju.payments import maintenance as payments
from chatju.payments.drift.models import RunOutcome
from chatju.payments.drift.report import run_report
from chatju.payments.drift.window import previous_day
from chatju.periodic import SKIPPED, Counts, job_lock
from chatju.settings import current_settings
from chatju.webhooks import maintenance as inbox

__all__ = ["drift", "expire", "prune", "reconcile", "redrive"]


def timed(job: str) -> Callable[[Callable[..., Counts]], Callable[..., Counts]]:
    """Mark a run that got to its end (`chatju_job_last_finished_timestamp_seconds`): the alerts watch for silence.

    A run skipped because another holds the lock is not this job's sign of life.
    """

    def wrap(run: Callable[..., Counts]) -> Callable[..., Counts]:
        @functools.wraps(run)
        def timed_run(*args: object, **kwargs: object) -> Counts:
            counts = run(*args, **kwargs)
            if counts != SKIPPED:
                metrics.mark_job_finished(job)
            return counts

        return timed_run

    return wrap


reconcile = timed("reconcile")(payments.reconcile)
expire = timed("expire")(payments.expire)


@timed("redrive")
def redrive() -> Counts:
    """Enqueue again what a lost task left behind: inbox events and outbox effects."""
    counts: Counts = {}
    with job_lock("redrive") as held:
        if not held:
            return dict(SKIPPED)
        cutoff = utcnow() - timedelta(seconds=current_settings().reconcile_after_seconds)
        inbox.redrive(cutoff, counts)
        outbox.redrive(cutoff, counts)
    return counts


@timed("prune")
def prune() -> Counts:
    """Forget what is no longer needed; keep the rows whose existence is the record."""
    with job_lock("prune") as held:
        if not held:
            return dict(SKIPPED)
        now = utcnow()
        retention = now - timedelta(days=current_settings().retention_days)
        return {
            "idempotency_keys": prune_keys(now),
            "magic_links": prune_links(now - timedelta(days=1)),
            "refresh_tokens": sign_ins.prune(now),
            "revoked_tokens": blocklist.prune(now),
            "webhook_bodies": inbox.prune_bodies(retention),
            "gateway_responses": prune_responses(retention),
        }


def drift(day_of: datetime | None = None) -> Counts:
    """The drift report for the UTC day before `day_of` (default: now), every gateway; committed here."""
    with job_lock("drift") as held:
        if not held:
            return dict(SKIPPED)
        report = run_report(previous_day(day_of or utcnow()), gateways().names(), "beat")
        db.session.commit()
        if report.run.outcome == RunOutcome.FAILED:
            return {"failed": 1}
        return {"differences": len(report.differences), **report.run.checked}
