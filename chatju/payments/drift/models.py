"""Drift report runs and the differences each found."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from chatju.db import BigIntPK, JSONType, enum_column, utcnow
from chatju.extensions import Model


class RunOutcome(enum.StrEnum):
    RUNNING = "running"
    CLEAN = "clean"  # finished: no difference
    DIFFERENCES = "differences"  # finished: at least one
    FAILED = "failed"  # could not finish (a gateway down or refusing)


FINISHED = (RunOutcome.CLEAN, RunOutcome.DIFFERENCES)


class DifferenceKind(enum.StrEnum):
    MISSING_HERE = "MISSING_HERE"  # the gateway took money for an order we do not know, or hold unpaid
    MISSING_THERE = "MISSING_THERE"  # we hold as paid what the gateway has not taken
    STATUS_MISMATCH = "STATUS_MISMATCH"  # both took it; its state differs (refunded, partly refunded)
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"  # same state; the captured or refunded amount or the currency differ


class DriftRun(Model):
    __tablename__ = "drift_runs"
    # /metrics reads the last finished run.
    __table_args__ = (sa.Index("ix_drift_runs_outcome_finished", "outcome", "finished_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    since: Mapped[datetime]
    until: Mapped[datetime]
    trigger: Mapped[str] = mapped_column(sa.String(20))  # cli, beat
    providers: Mapped[list[str]] = mapped_column(JSONType)
    outcome: Mapped[RunOutcome] = mapped_column(enum_column(RunOutcome, "outcome"))
    checked: Mapped[dict[str, Any]]  # provider -> payments compared
    error: Mapped[str | None] = mapped_column(sa.String(500))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class DriftDifference(Model):
    __tablename__ = "drift_differences"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("drift_runs.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(sa.String(20))
    kind: Mapped[DifferenceKind] = mapped_column(enum_column(DifferenceKind, "kind"))
    order_id: Mapped[str | None] = mapped_column(sa.String(64))
    reference: Mapped[str | None] = mapped_column(sa.String(255))  # the gateway's payment id
    # Ours, when the difference is about one of our payments (an unknown order has none).
    payment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payments.id", ondelete="RESTRICT"), index=True)
    ours: Mapped[dict[str, Any] | None]
    theirs: Mapped[dict[str, Any] | None]
    detail: Mapped[str] = mapped_column(sa.String(500))
    # This difference put NEEDS_REVIEW on the payment (a payment already held is not flagged again).
    flagged: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
