"""Stripe's test cards the hosted page knows (https://docs.stripe.com/testing).

A Luhn-valid number not listed here is declined as Stripe declines a real card in test
mode (`test_mode_live_card`); a Luhn-invalid one never reaches a payment attempt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SUCCESS = "4242424242424242"
GENERIC_DECLINE = "4000000000000002"
INSUFFICIENT_FUNDS = "4000000000009995"


@dataclass(frozen=True)
class Decline:
    decline_code: str
    message: str
    seller_message: str


DECLINES = {
    GENERIC_DECLINE: Decline(
        "generic_decline", "Your card was declined.", "The bank did not return any further details with this decline."
    ),
    INSUFFICIENT_FUNDS: Decline(
        "insufficient_funds",
        "Your card has insufficient funds.",
        "The bank returned the decline code `insufficient_funds`.",
    ),
}
LIVE_CARD = Decline(
    "test_mode_live_card",
    "Your card was declined. Your request was in test mode, but used a non test (live) card. "
    "For a list of valid test cards, visit: https://stripe.com/docs/testing.",
    "The customer used a live card in test mode.",
)
TEST_CARDS = (
    (SUCCESS, "Succeeds"),
    (GENERIC_DECLINE, "Declined: generic_decline"),
    (INSUFFICIENT_FUNDS, "Declined: insufficient_funds"),
)


def normalise(number: str) -> str | None:
    """The digits of a card number typed with spaces or dashes, or None if it is not one."""
    digits = re.sub(r"[\s-]", "", number)
    return digits if re.fullmatch(r"[0-9]{12,19}", digits) and _luhn_ok(digits) else None


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def decline_for(number: str) -> Decline | None:
    """None: the card pays."""
    return None if number == SUCCESS else DECLINES.get(number, LIVE_CARD)


def brand_of(number: str) -> str:
    return {"4": "visa", "5": "mastercard", "3": "amex"}.get(number[0], "unknown")
