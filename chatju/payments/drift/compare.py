"""The drift report's rules: one of our payments beside the gateway's view of it, and what differs.

Pure: no database, no gateway. A payment still in flight on our side (PENDING, PROCESSING,
or a refund awaiting the gateway) is reconciliation's, never a difference. Otherwise the
question is first whether money was taken (MISSING_HERE, MISSING_THERE), then, where both
sides say it was, whether its state and its amounts agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chatju.gateways.port import GatewayPayment
from chatju.payments.drift.models import DifferenceKind
from chatju.states import PAID_STATUSES, PaymentStatus, is_paid

K = DifferenceKind
IN_FLIGHT = frozenset({PaymentStatus.PENDING, PaymentStatus.PROCESSING})


@dataclass(frozen=True)
class Held:
    """One of our payments as the report compares it."""

    order_id: str
    status: PaymentStatus
    amount: int
    refunded_amount: int
    currency: str
    reference: str | None  # the gateway payment it is bound to
    refund_in_flight: bool = False

    @property
    def in_flight(self) -> bool:
        return self.status in IN_FLIGHT or self.refund_in_flight

    def to_json(self) -> dict[str, Any]:
        return _side(str(self.status), self.amount, self.refunded_amount, self.currency)


@dataclass(frozen=True)
class Finding:
    kind: DifferenceKind
    detail: str


def theirs_json(seen: GatewayPayment) -> dict[str, Any]:
    """The gateway's side in its own words (its status), amounts in minor units."""
    return _side(seen.gateway_status, seen.amount, seen.refunded_amount, seen.currency)


def compare(held: Held | None, seen: GatewayPayment | None) -> Finding | None:
    """What differs between our payment (None: no such order) and the gateway's (None: it has none)."""
    if held is not None and held.in_flight:
        return None
    took = seen is not None and seen.approved
    if seen is not None and took and held is not None and held.reference and seen.reference != held.reference:
        return Finding(K.MISSING_HERE, f"the gateway took {_money(seen)} under {seen.reference}, not our payment")
    paid = held is not None and is_paid(held.status)
    if seen is not None and took and not paid:
        unknown = "for an order we do not know" if held is None else f"for an order we hold {held.status}"
        return Finding(K.MISSING_HERE, f"the gateway took {_money(seen)} {unknown}")
    if held is not None and paid and not took:
        lost = "has no such payment" if seen is None else f"never took the money (it says {seen.gateway_status})"
        return Finding(K.MISSING_THERE, f"we hold it {held.status}; the gateway {lost}")
    if held is None or seen is None or not paid:
        return None  # nothing was taken on either side
    return _paid_on_both(held, seen)


def _paid_on_both(held: Held, seen: GatewayPayment) -> Finding | None:
    theirs = seen.target if seen.target in PAID_STATUSES else None
    if theirs != held.status:
        return Finding(K.STATUS_MISMATCH, f"we hold it {held.status}; the gateway says {seen.gateway_status}")
    amounts = [
        f"{name}: ours {mine}, the gateway's {its}"
        for name, mine, its in (
            ("captured", held.amount, seen.amount),
            ("refunded", held.refunded_amount, seen.refunded_amount),
            ("currency", held.currency, seen.currency),
        )
        if mine != its
    ]
    return Finding(K.AMOUNT_MISMATCH, "; ".join(amounts)) if amounts else None


def _money(seen: GatewayPayment) -> str:
    return f"{seen.amount} {seen.currency}".strip()


def _side(status: str, amount: int, refunded: int, currency: str) -> dict[str, Any]:
    return {"status": status, "amount": amount, "refundedAmount": refunded, "currency": currency}
