"""What every input must be, whoever reads it: the HTTP edge and the gateways' webhook parsers (SPEC §9).

One rule per kind of input, so a route and a webhook cannot disagree:

- **Text** holds no control character (Unicode category Cc: NUL, the other C0 controls,
  DEL and the C1 controls) and no lone surrogate (Cs: not text, and PostgreSQL cannot
  store it). Text fields, and the identifiers a webhook names, are refused otherwise.
- **Times** are instants the service can store and compute with: from 1970-01-01 to
  9999-12-30 UTC. A zone shift past the end of the calendar is out of range, not a crash.
- **Order ids** are what the service issues: 6-64 characters of `A-Z a-z 0-9 _ -`.
- **Idempotency keys** are 1-255 visible ASCII characters (0x21-0x7E).
- **Refund accounts** (where a refund is paid into the customer's Korean bank account):
  a bank code from the list below, an account number of 6-20 digits (spaces and hyphens,
  as people write them, are dropped) and a holder name of 1-60 characters of text.

A value that breaks a rule raises `ValueError` (pydantic turns it into a field error; the
adapters into `WebhookRejectedError`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo

NOT_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
# A day short of the calendar's end, so any zone can still be applied to a time in range.
LATEST = datetime(9999, 12, 30, 23, 59, 59, tzinfo=UTC)
ORDER_ID_PATTERN = r"[A-Za-z0-9_-]{6,64}"
ORDER_ID = re.compile(ORDER_ID_PATTERN)
IDEMPOTENCY_KEY_PATTERN = r"[\x21-\x7e]{1,255}"
IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)


def clean_text(value: str) -> str:
    """`value` itself, or ValueError when it holds a control character or a lone surrogate."""
    if NOT_TEXT.search(value):
        raise ValueError("must not contain control characters")
    return value


def is_clean_text(value: str) -> bool:
    return NOT_TEXT.search(value) is None


def instant(value: datetime) -> datetime:
    """An aware time as UTC, or ValueError when it lies outside what the service can represent."""
    if value.tzinfo is None:
        raise ValueError("must carry a time zone")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside the representable range") from None
    if not EARLIEST <= utc <= LATEST:
        raise ValueError("is outside the representable range")
    return utc


def instant_from_iso(text: str, zone: tzinfo) -> datetime:
    """An ISO 8601 time; one without an offset is read in `zone`. ValueError when malformed or out of range."""
    parsed = datetime.fromisoformat(text)
    return instant(parsed if parsed.tzinfo else parsed.replace(tzinfo=zone))


def instant_from_unix(seconds: int) -> datetime:
    """Seconds since the epoch; ValueError when out of range."""
    if isinstance(seconds, bool) or not EARLIEST.timestamp() <= seconds <= LATEST.timestamp():
        raise ValueError("is outside the representable range")
    return datetime.fromtimestamp(seconds, UTC)


def is_order_id(value: str) -> bool:
    return ORDER_ID.fullmatch(value) is not None


def is_idempotency_key(value: str) -> bool:
    return IDEMPOTENCY_KEY.fullmatch(value) is not None


# Korean banks by the two-digit codes Toss takes for `refundReceiveAccount.bank`
# (https://docs.tosspayments.com/codes/org-codes, 은행 코드).
BANK_CODES: dict[str, str] = {
    "02": "KDB Bank",
    "03": "IBK",
    "06": "KB Kookmin Bank",
    "07": "Suhyup Bank",
    "11": "NH NongHyup Bank",
    "12": "Local Nonghyup",
    "20": "Woori Bank",
    "23": "SC First Bank",
    "27": "Citibank Korea",
    "31": "iM Bank (Daegu)",
    "32": "Busan Bank",
    "34": "Gwangju Bank",
    "35": "Jeju Bank",
    "37": "Jeonbuk Bank",
    "39": "Kyongnam Bank",
    "45": "Saemaul Geumgo",
    "48": "Shinhyup",
    "50": "Savings Bank",
    "54": "HSBC",
    "64": "Sanlim",
    "71": "Korea Post",
    "81": "Hana Bank",
    "88": "Shinhan Bank",
    "89": "K Bank",
    "90": "KakaoBank",
    "92": "Toss Bank",
}
ACCOUNT_NUMBER = re.compile(r"[0-9]{6,20}")
ACCOUNT_SEPARATORS = re.compile(r"[ -]")
HOLDER_NAME_MAX = 60


def bank_code(value: str) -> str:
    if value not in BANK_CODES:
        raise ValueError("must be a bank code (two digits, e.g. 88 for Shinhan Bank)")
    return value


def account_number(value: str) -> str:
    """The digits of an account number; ValueError unless 6-20 digits remain once spaces and hyphens go."""
    digits = ACCOUNT_SEPARATORS.sub("", value)
    if ACCOUNT_NUMBER.fullmatch(digits) is None:
        raise ValueError("must be 6-20 digits")
    return digits


def holder_name(value: str) -> str:
    name = clean_text(value).strip()
    if not 1 <= len(name) <= HOLDER_NAME_MAX:
        raise ValueError(f"must be 1-{HOLDER_NAME_MAX} characters")
    return name
