"""Currencies the sandbox accepts, their minor units and Stripe's minimum charge amounts.

Minimums are reference §2 (Stripe's table, in minor units). Stripe publishes none for
KRW; the sandbox uses ₩100 (its choice, documented here). The maximum is eight digits.
"""

from __future__ import annotations

ZERO_DECIMAL = frozenset({"jpy", "krw"})
MINIMUMS = {
    "usd": 50, "eur": 50, "gbp": 30, "jpy": 50, "krw": 100,  # krw: the sandbox's choice
    "cad": 50, "aud": 50, "sgd": 50, "hkd": 400, "chf": 50,
}  # fmt: skip
CURRENCIES = tuple(MINIMUMS)
MAX_AMOUNT = 99_999_999
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "krw": "₩", "cad": "$", "aud": "$", "sgd": "$",
           "hkd": "$", "chf": "CHF "}  # fmt: skip


def format_amount(amount: int, currency: str) -> str:
    """`$10.00`, `¥500`, `₩13,000`: an amount in minor units as a customer reads it."""
    symbol = SYMBOLS.get(currency, "")
    if currency in ZERO_DECIMAL:
        return f"{symbol}{amount:,}"
    return f"{symbol}{amount // 100:,}.{amount % 100:02d}"


def format_with_code(amount: int, currency: str) -> str:
    """`$0.50 usd`, as Stripe's amount errors word it."""
    return f"{format_amount(amount, currency)} {currency}"
