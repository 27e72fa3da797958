"""Payments, their append-only ledger, their refunds, and the outbox of their side effects."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from chatju.db import BigIntPK, TimestampMixin, enum_column, utcnow
from chatju.extensions import Model
from chatju.states import EventSource, LedgerKind, PaymentStatus


class Payment(TimestampMixin, Model):
    __tablename__ = "payments"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("refunded_amount >= 0 AND refunded_amount <= amount", name="refunded_within_amount"),
        # History: newest first per user, keyset on (created_at, id).
        sa.Index("ix_payments_user_created", "user_id", sa.text("created_at DESC"), sa.text("id DESC")),
        # The gauges count open payments by status.
        sa.Index("ix_payments_status_updated", "status", "updated_at"),
        # Reconcile and expire take the due payments of a status, soonest first.
        sa.Index("ix_payments_status_next_attempt", "status", "next_attempt_at"),
        # The few payments held for a person (the metrics count them at every scrape).
        sa.Index(
            "ix_payments_needs_review",
            "provider",
            postgresql_where=sa.text("needs_review"),
            sqlite_where=sa.text("needs_review"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="RESTRICT"))
    provider: Mapped[str] = mapped_column(sa.String(20))
    status: Mapped[PaymentStatus] = mapped_column(enum_column(PaymentStatus, "status"))
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3))
    order_name: Mapped[str] = mapped_column(sa.String(100))
    refunded_amount: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    # Gateway references: each unique, so one gateway payment is never two of ours.
    payment_key: Mapped[str | None] = mapped_column(sa.String(200), unique=True)
    payment_intent_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    client_secret: Mapped[str | None] = mapped_column(sa.String(255))
    method: Mapped[str | None] = mapped_column(sa.String(20))
    card_brand: Mapped[str | None] = mapped_column(sa.String(40))
    card_last4: Mapped[str | None] = mapped_column(sa.String(4))
    receipt_url: Mapped[str | None] = mapped_column(sa.String(1000))
    failure_code: Mapped[str | None] = mapped_column(sa.String(100))
    failure_message: Mapped[str | None] = mapped_column(sa.String(500))
    failure_decline_code: Mapped[str | None] = mapped_column(sa.String(100))
    disputed: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    needs_review: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Toss's per-payment secret, echoed in DEPOSIT_CALLBACK webhooks.
    gateway_secret: Mapped[str | None] = mapped_column(sa.String(100))
    # The confirm in flight: its paymentKey is bound to the order only once Toss accepts it.
    attempt_key: Mapped[str | None] = mapped_column(sa.String(200))
    attempt_from_status: Mapped[PaymentStatus | None] = mapped_column(
        enum_column(PaymentStatus, "attempt_from_status", checked=False)
    )
    attempt_started_at: Mapped[datetime | None]
    # When the gateway's view of this payment was last fetched (coalesces re-fetches).
    synced_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    # Reconcile and expire: their tries since the payment last changed state, and when the next is due.
    job_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.now())

    @property
    def flags(self) -> list[str]:
        return [name for name, on in (("DISPUTED", self.disputed), ("NEEDS_REVIEW", self.needs_review)) if on]


class PaymentEvent(Model):
    """One row per change to a payment (or refused change); never updated or deleted."""

    __tablename__ = "payment_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    payment_id: Mapped[int] = mapped_column(sa.ForeignKey("payments.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[LedgerKind] = mapped_column(enum_column(LedgerKind, "kind"))
    from_status: Mapped[PaymentStatus | None] = mapped_column(enum_column(PaymentStatus, "from_status"))
    to_status: Mapped[PaymentStatus | None] = mapped_column(enum_column(PaymentStatus, "to_status"))
    amount: Mapped[int | None] = mapped_column(sa.BigInteger)
    source: Mapped[EventSource] = mapped_column(enum_column(EventSource, "source", 10))
    gateway_reference: Mapped[str | None] = mapped_column(sa.String(255))
    actor: Mapped[str | None] = mapped_column(sa.String(254))
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    detail: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RefundStatus(enum.StrEnum):
    PENDING = "pending"  # reserved under the payment's lock; the gateway has not answered yet
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Refund(TimestampMixin, Model):
    """One refund: ours (an admin asked; `refund_id` is the gateway idempotency key) or the gateway's."""

    __tablename__ = "refunds"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.Index("ix_refunds_status_created", "status", "created_at"),
        # Refunds in flight are re-sent when due, soonest first.
        sa.Index("ix_refunds_status_next_attempt", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    refund_id: Mapped[str] = mapped_column(sa.String(40), unique=True)
    payment_id: Mapped[int] = mapped_column(sa.ForeignKey("payments.id", ondelete="RESTRICT"), index=True)
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3))
    reason: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[RefundStatus] = mapped_column(enum_column(RefundStatus, "status"))
    source: Mapped[EventSource] = mapped_column(enum_column(EventSource, "source", 10))
    requested_by: Mapped[str | None] = mapped_column(sa.String(254))
    # Stripe's re_... or Toss's cancel transactionKey: a refund made at the gateway is imported once.
    gateway_refund_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    failure_code: Mapped[str | None] = mapped_column(sa.String(100))
    failure_message: Mapped[str | None] = mapped_column(sa.String(500))
    # The customer's bank account it is paid into ({bank, accountNumber, holderName}), where the
    # method needs one: kept only while the refund is in flight (a retry sends it again), then erased.
    receive_account: Mapped[dict[str, Any] | None]
    # Times reconciliation sent it again while in flight, and when it may next.
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.now())


class Effect(enum.StrEnum):
    GRANT = "grant_entitlement"
    RECEIPT = "receipt_mail"
    REVOKE = "revoke_entitlement"


class OutboxState(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class OutboxItem(Model):
    """A side effect of a status change, written in the same transaction, delivered by a task."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.UniqueConstraint("payment_id", "effect"),
        sa.Index("ix_outbox_state_created", "state", "created_at"),
        # The re-drive takes the due pending items, soonest first.
        sa.Index("ix_outbox_state_next_attempt", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    payment_id: Mapped[int] = mapped_column(sa.ForeignKey("payments.id", ondelete="RESTRICT"))
    effect: Mapped[Effect] = mapped_column(enum_column(Effect, "effect", 30))
    state: Mapped[OutboxState] = mapped_column(enum_column(OutboxState, "state"))
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")  # failed deliveries and re-drives
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    payload: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.now())
