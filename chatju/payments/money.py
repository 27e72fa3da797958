"""Money as people read it; amounts stay integers in the gateway's minor unit everywhere else."""

from __future__ import annotations

# Currencies without minor units, as Stripe counts them (https://docs.stripe.com/currencies#zero-decimal).
ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
SYMBOLS = {"KRW": "₩", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def format_amount(amount: int, currency: str) -> str:
    """13000 KRW → ₩13,000; 1000 USD → $10.00 (no floats on the way)."""
    symbol = SYMBOLS.get(currency, "")
    suffix = "" if symbol else f" {currency}"
    if currency in ZERO_DECIMAL:
        return f"{symbol}{amount:,}{suffix}"
    whole, cents = divmod(amount, 100)
    return f"{symbol}{whole:,}.{cents:02d}{suffix}"
