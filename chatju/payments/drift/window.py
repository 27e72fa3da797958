"""The drift report's window: the previous UTC day by default, or what an operator names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chatju.gateways.port import Window
from chatju.validation import instant_from_iso

DAY = timedelta(days=1)
LONGEST = timedelta(days=31)  # a month of payments is compared in memory; longer windows are run in parts


class WindowError(ValueError):
    """An operator's window that cannot be run; the message says why in one line."""


def previous_day(now: datetime) -> Window:
    """The UTC day before `now`'s."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return Window(today - DAY, today)


def window_of(since: str | None, until: str | None, now: datetime) -> Window:
    """From ISO 8601 bounds (a time without an offset is UTC; a date is its midnight).

    Neither: the previous UTC day. Only `since`: up to now. Only `until`: the day before it.
    """
    if since is None and until is None:
        return previous_day(now)
    end = _instant("--until", until) if until is not None else now.astimezone(UTC)
    start = _instant("--since", since) if since is not None else end - DAY
    if start >= end:
        raise WindowError("--since must be before --until")
    if end - start > LONGEST:
        raise WindowError(f"the window may span at most {LONGEST.days} days; run longer ones in parts")
    return Window(start, end)


def _instant(option: str, text: str) -> datetime:
    try:
        return instant_from_iso(text.strip(), UTC)
    except ValueError:
        raise WindowError(f"{option} must be an ISO 8601 time such as 2026-12-03T00:00:00Z, got {text!r}") from None
