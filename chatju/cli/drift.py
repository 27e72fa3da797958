"""`flask --app wsgi payments drift`: the gateways' books beside ours for a window (SPEC §6).

Exit status as `diff`'s: 0 no difference, 1 differences, 2 could not finish (bad
arguments, a gateway down); then one line on stderr says why.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import click

from chatju.db import utcnow
from chatju.extensions import db
from chatju.gateways.registry import gateways
from chatju.payments.drift.models import DriftDifference, RunOutcome
from chatju.payments.drift.report import Report, run_report
from chatju.payments.drift.window import WindowError, window_of
from chatju.timefmt import iso_utc

log = logging.getLogger(__name__)
CLEAN, DIFFERENCES, UNFINISHED = 0, 1, 2
COLUMNS = ("KIND", "PROVIDER", "ORDER", "REFERENCE", "OURS", "THEIRS", "DETAIL")


@click.command("drift")
@click.option("--since", help="Start of the window, ISO 8601 (UTC unless it says otherwise); default: yesterday 00:00.")
@click.option("--until", help="End of the window, not included; default: now with --since, else today 00:00.")
@click.option("--provider", help="One gateway (toss, stripe); default: every enabled one.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def drift(since: str | None, until: str | None, provider: str | None, as_json: bool) -> None:
    """List every difference between what the gateways report for a window and our payments."""
    try:
        window = window_of(since, until, utcnow())
    except WindowError as error:
        _give_up(str(error))
    enabled = gateways().names()
    if provider is not None and provider not in enabled:
        _give_up(f"--provider must be one of {', '.join(enabled)}, got {provider!r}")
    try:
        report = run_report(window, [provider] if provider else list(enabled), "cli")
        db.session.commit()
    except Exception as error:  # exit 1 means "differences": anything else that stops the run is a 2
        db.session.rollback()
        log.exception("drift report failed")
        _give_up(f"could not finish: {type(error).__name__} (see the log)")
    if report.run.outcome == RunOutcome.FAILED:
        _give_up(f"could not finish: {report.run.error}")
    click.echo(json.dumps(as_object(report), ensure_ascii=False) if as_json else as_table(report))
    raise click.exceptions.Exit(DIFFERENCES if report.differences else CLEAN)


def _give_up(message: str) -> Any:
    click.echo(f"drift: {message}", err=True)
    raise click.exceptions.Exit(UNFINISHED)


def as_object(report: Report) -> dict[str, Any]:
    return {
        "since": iso_utc(report.run.since),
        "until": iso_utc(report.run.until),
        "checked": dict(report.run.checked),
        "differences": [_difference(d) for d in report.differences],
    }


def _difference(difference: DriftDifference) -> dict[str, Any]:
    return {
        "provider": difference.provider,
        "orderId": difference.order_id,
        "reference": difference.reference,
        "kind": str(difference.kind),
        "ours": difference.ours,
        "theirs": difference.theirs,
        "detail": difference.detail,
    }


def as_table(report: Report) -> str:
    run = report.run
    checked = ", ".join(f"{name} {count}" for name, count in run.checked.items()) or "no gateway"
    head = f"drift {iso_utc(run.since)} .. {iso_utc(run.until)}: checked {checked}; "
    if not report.differences:
        return head + "no difference"
    rows = [COLUMNS, *(_row(d) for d in report.differences)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    lines = [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]) for row in rows
    ]
    return "\n".join([head + f"{len(report.differences)} difference(s)", *lines])


def _row(difference: DriftDifference) -> tuple[str, ...]:
    return (
        str(difference.kind),
        difference.provider,
        difference.order_id or "-",
        difference.reference or "-",
        _side(difference.ours),
        _side(difference.theirs),
        difference.detail,
    )


def _side(side: dict[str, Any] | None) -> str:
    """`PAID 13000 KRW` or `PARTIAL_CANCELED 13000 KRW (refunded 3000)`; `-` for a side with no payment."""
    if not side:
        return "-"
    refunded = f" (refunded {side['refundedAmount']})" if side.get("refundedAmount") else ""
    return f"{side['status']} {side['amount']} {side['currency']}{refunded}"
