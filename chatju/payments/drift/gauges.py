"""The drift report's gauges, read from the stored runs at scrape time (chatju.observability.database).

Every process serves the same figures: the differences of each gateway's last finished
run, when a run last finished, and how many runs ended each way.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy.engine import Connection

from chatju.payments.drift.models import FINISHED, DifferenceKind, DriftDifference, DriftRun, RunOutcome

RECENT_RUNS = 50  # a gateway's last finished run is among the latest ones


def read(conn: Connection, providers: Sequence[str]) -> list[Metric]:
    return [_differences(conn, providers), _last_finished(conn), _runs(conn)]


def _differences(conn: Connection, providers: Sequence[str]) -> Metric:
    family = GaugeMetricFamily(
        "chatju_drift_differences",
        "Differences found by the last finished drift report that covered the gateway, by kind",
        labels=["provider", "kind"],
    )
    last = _last_run_of(conn, providers)
    rows = conn.execute(
        sa.select(DriftDifference.run_id, DriftDifference.provider, DriftDifference.kind, sa.func.count())
        .where(DriftDifference.run_id.in_(set(last.values())))
        .group_by(DriftDifference.run_id, DriftDifference.provider, DriftDifference.kind)
    ).all()
    counts = {(run, str(provider), str(kind)): count for run, provider, kind, count in rows}
    for provider in providers:
        for kind in DifferenceKind:
            family.add_metric([provider, str(kind)], counts.get((last.get(provider), provider, str(kind)), 0))
    return family


def _last_run_of(conn: Connection, providers: Sequence[str]) -> dict[str, int]:
    """Each gateway's last finished run (a run with --provider covers only that one)."""
    recent = conn.execute(
        sa.select(DriftRun.id, DriftRun.providers)
        .where(DriftRun.outcome.in_(FINISHED))
        .order_by(DriftRun.finished_at.desc(), DriftRun.id.desc())
        .limit(RECENT_RUNS)
    ).all()
    last: dict[str, int] = {}
    for run_id, covered in recent:
        for provider in covered or []:
            if provider in providers:
                last.setdefault(provider, run_id)
    return last


def _last_finished(conn: Connection) -> Metric:
    family = GaugeMetricFamily(
        "chatju_drift_last_finished_timestamp_seconds", "When a drift report last finished (Unix time; 0: never)"
    )
    at = conn.execute(sa.select(sa.func.max(DriftRun.finished_at)).where(DriftRun.outcome.in_(FINISHED))).scalar()
    family.add_metric([], at.timestamp() if at is not None else 0.0)
    return family


def _runs(conn: Connection) -> Metric:
    family = CounterMetricFamily(
        "chatju_drift_runs", "Drift report runs by outcome (clean, differences, failed)", labels=["outcome"]
    )
    rows = conn.execute(sa.select(DriftRun.outcome, sa.func.count()).group_by(DriftRun.outcome)).all()
    counts = {str(outcome): count for outcome, count in rows}
    for outcome in (RunOutcome.CLEAN, RunOutcome.DIFFERENCES, RunOutcome.FAILED):
        family.add_metric([str(outcome)], counts.get(str(outcome), 0))
    return family
