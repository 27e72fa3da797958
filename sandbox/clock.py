"""Times as the gateways write them (Toss: Korean time, UTC+9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

KST = timezone(timedelta(hours=9), "KST")


def now_kst() -> datetime:
    return datetime.now(KST)


def kst_iso(value: datetime | None) -> str | None:
    """`2024-02-13T12:17:57+09:00`, as in Toss's Payment object."""
    return None if value is None else value.astimezone(KST).isoformat(timespec="seconds")


def kst_naive_micro(value: datetime) -> str:
    """`2024-02-13T12:18:15.123456`: a Toss webhook's `createdAt` (KST implied, no offset)."""
    return value.astimezone(KST).replace(tzinfo=None).isoformat(timespec="microseconds")


def kst_naive_seconds(value: datetime) -> str:
    """`2024-02-20T12:18:15`: a virtual account's `dueDate`."""
    return value.astimezone(KST).replace(tzinfo=None).isoformat(timespec="seconds")


def utc_stamp() -> str:
    """When something happened in the sandbox, for the control API's logs."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
