"""Payment statuses and the one table of allowed transitions (SPEC §4 Status)."""

from __future__ import annotations

import enum


class PaymentStatus(enum.StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    PAID = "PAID"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"


class EventSource(enum.StrEnum):
    API = "api"
    WEBHOOK = "webhook"
    RECONCILE = "reconcile"
    REFUND = "refund"
    ADMIN = "admin"


class LedgerKind(enum.StrEnum):
    TRANSITION = "transition"  # the status (or refunded amount) changed
    IGNORED = "ignored"  # a transition the state machine refused, kept for the record
    FLAG = "flag"  # DISPUTED or NEEDS_REVIEW raised
    NOTE = "note"  # anything else worth auditing (a refused refund, a bound key)


S = PaymentStatus
ALLOWED: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    S.PENDING: frozenset({S.PROCESSING, S.PAID, S.FAILED, S.CANCELED, S.EXPIRED}),
    S.PROCESSING: frozenset({S.PAID, S.FAILED, S.CANCELED, S.EXPIRED}),
    S.FAILED: frozenset({S.PROCESSING, S.PAID}),
    S.CANCELED: frozenset({S.PAID}),  # a late success is never lost
    S.EXPIRED: frozenset({S.PAID}),
    S.PAID: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.PARTIALLY_REFUNDED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.REFUNDED: frozenset(),
}
# The single move outside this table, made by chatju.payments.confirm.withdraw: a confirm
# that the gateway answered "no such checkout" (a wrong or expired key) never existed,
# so the order returns from PROCESSING to where it was (PENDING or FAILED).

# Statuses in which the customer's money was taken at some point.
PAID_STATUSES = frozenset({S.PAID, S.PARTIALLY_REFUNDED, S.REFUNDED})


def can_move(current: PaymentStatus, target: PaymentStatus) -> bool:
    return target in ALLOWED[current]


def is_paid(status: PaymentStatus) -> bool:
    return status in PAID_STATUSES
