"""The customer's bank account a deposited virtual account is refunded to (`refundReceiveAccount`).

Toss requires it on every cancel of a virtual account that was deposited, and checks it:
`bank` is one of its bank codes (https://docs.tosspayments.com/codes/org-codes, 은행 코드),
`accountNumber` is digits only (at most 20), `holderName` at most 60 characters.
Beyond the format, Toss asks the bank whether the holder matches; the sandbox's bank
says no for every account number starting with 999 (INVALID_REFUND_ACCOUNT_INFO).
"""

from __future__ import annotations

from typing import Any

from sandbox.toss.errors import TossError

BANK_CODES = frozenset(
    {"02", "03", "06", "07", "11", "12", "20", "23", "27", "31", "32", "34", "35", "37", "39", "45", "48", "50", "54",
     "64", "71", "81", "88", "89", "90", "92"}
)  # fmt: skip
MAX_ACCOUNT_NUMBER = 20
MAX_HOLDER_NAME = 60
HOLDER_MISMATCH_PREFIX = "999"


def refund_account(value: Any) -> dict[str, str]:
    """The account as Toss reads it, or the TossError Toss answers."""
    if value is None:
        # Toss documents no code for the missing object: the sandbox answers INVALID_REQUEST.
        raise TossError("INVALID_REQUEST", "가상계좌 결제의 환불은 refundReceiveAccount 값이 필요합니다.")
    if not isinstance(value, dict):
        raise TossError("INVALID_REQUEST", "refundReceiveAccount 값이 올바르지 않습니다.")
    bank, number, holder = value.get("bank"), value.get("accountNumber"), value.get("holderName")
    if not isinstance(bank, str) or bank not in BANK_CODES:
        raise TossError("INVALID_BANK")
    if not isinstance(number, str) or not number.isascii() or not number.isdigit() or len(number) > MAX_ACCOUNT_NUMBER:
        raise TossError("INVALID_REFUND_ACCOUNT_NUMBER")
    if not isinstance(holder, str) or not holder.strip() or len(holder) > MAX_HOLDER_NAME:
        raise TossError("INVALID_REQUEST", "holderName 값이 올바르지 않습니다.")
    if number.startswith(HOLDER_MISMATCH_PREFIX):
        raise TossError("INVALID_REFUND_ACCOUNT_INFO")
    return {"bank": bank, "accountNumber": number, "holderName": holder}
