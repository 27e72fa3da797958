"""Refunds: reserved under the payment's lock, executed by a task with our refund id as the key.

The amount of a refund is reserved when it is requested, under the payment's row
lock, so the refunds of a payment never add up to more than was paid, whatever
runs at the same time. Toss gets a cancel (`cancelReason`), Stripe a refund
(`reason=requested_by_customer`, the text in metadata); the gateway's own webhook
for the same refund then finds nothing left to change.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from chatju.errors import APIError
from chatju.extensions import db
from chatju.gateways.base import GatewayError, GatewayPayment
from chatju.gateways.clients import stripe_gateway, toss_client
from chatju.gateways.toss import TossClient
from chatju.jobs import enqueue_after_commit, retry_countdown
from chatju.payments import ledger
from chatju.payments.models import Payment, Refund, RefundStatus
from chatju.payments.states import EventSource, LedgerKind, PaymentStatus, Provider
from chatju.payments.sync import take_sync_lock
from chatju.payments.transitions import apply_gateway_payment, lock_payment
from chatju.settings import current_settings

log = logging.getLogger(__name__)
REFUND_TASK = "payments.refund"
REFUNDABLE = (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED)


def new_refund_id() -> str:
    return "rf_" + secrets.token_urlsafe(18)


def refundable(payment: Payment) -> int:
    """What may still be refunded: the amount less what was refunded and what is reserved in flight."""
    totals = dict(
        db.session.execute(
            sa.select(Refund.status, sa.func.sum(Refund.amount))
            .where(Refund.payment_id == payment.id, Refund.status != RefundStatus.FAILED)
            .group_by(Refund.status)
        ).all()
    )
    refunded = max(payment.refunded_amount, int(totals.get(RefundStatus.SUCCEEDED, 0)))
    return payment.amount - refunded - int(totals.get(RefundStatus.PENDING, 0))


def request_refund(order_id: str, amount: int | None, reason: str, actor: str) -> tuple[Payment, Refund]:
    """Reserve the amount and record the request; the task is sent when this commits."""
    payment_id = db.session.execute(sa.select(Payment.id).where(Payment.order_id == order_id)).scalar_one_or_none()
    if payment_id is None:
        raise APIError(404, "NOT_FOUND", "No such order.")
    payment = lock_payment(payment_id)
    if payment.status not in REFUNDABLE:
        raise APIError(
            409, "INVALID_STATE", f"A {payment.status} payment cannot be refunded.", {"status": str(payment.status)}
        )
    if payment.provider == Provider.TOSS and payment.method == "virtual_account":
        # Toss needs the customer's bank account (refundReceiveAccount) for these, which we do not hold.
        raise APIError(
            409,
            "INVALID_STATE",
            "A virtual-account payment is refunded to a bank account: use Toss's dashboard.",
            {"status": str(payment.status)},
        )
    available = refundable(payment)
    amount = available if amount is None else amount
    if amount <= 0 or amount > available:
        raise APIError(
            400,
            "AMOUNT_OUT_OF_RANGE",
            f"At most {available} {payment.currency} can be refunded.",
            {"available": available},
        )
    refund = Refund(
        refund_id=new_refund_id(),
        payment_id=payment.id,
        amount=amount,
        currency=payment.currency,
        reason=reason,
        status=RefundStatus.PENDING,
        source=EventSource.ADMIN,
        requested_by=actor,
    )
    db.session.add(refund)
    db.session.flush()
    ledger.record(
        payment,
        LedgerKind.NOTE,
        EventSource.ADMIN,
        amount=amount,
        reference=refund.refund_id,
        actor=actor,
        reason=reason,
        detail={"refund": "requested"},
    )
    enqueue_after_commit(REFUND_TASK, (refund.id,))
    return payment, refund


def refund_json(refund: Refund) -> dict[str, Any]:
    return {"id": refund.refund_id, "amount": refund.amount, "status": str(refund.status)}


def run_refund(refund_pk: int, retries_done: int) -> float | None:
    """Ask the gateway; settle the refund, or return a retry countdown while the answer is unknown."""
    refund = db.session.get(Refund, refund_pk)
    if refund is None or refund.status != RefundStatus.PENDING:
        return None
    payment = db.session.get(Payment, refund.payment_id)
    if payment is None:
        raise LookupError(f"payment of refund {refund.refund_id} is missing")
    call = _gateway_call(payment, refund)
    db.session.rollback()  # nothing held while the gateway works
    try:
        reference, seen = call()
    except GatewayError as error:
        if error.retryable and retries_done < current_settings().gateway_max_retries:
            return retry_countdown(retries_done)
        if error.retryable:
            return None  # still unknown: reconciliation sends it again under the same key
        _refused(refund_pk, error)
        return None
    _succeeded(refund_pk, reference, seen)
    return None


Outcome = tuple[str, GatewayPayment]  # the gateway's refund reference, and the payment as it now stands


def _gateway_call(payment: Payment, refund: Refund) -> Callable[[], Outcome]:
    """The gateway call for this refund, bound to its values (our refund id is the idempotency key)."""
    order_id, refund_id, reason, amount = payment.order_id, refund.refund_id, refund.reason, refund.amount
    if payment.provider == Provider.TOSS:
        client, key = toss_client(), str(payment.payment_key)
        whole = amount == payment.amount and payment.refunded_amount == 0
        return lambda: _toss_cancel(client, key, order_id, reason, None if whole else amount, refund_id)
    gateway, intent = stripe_gateway(), str(payment.payment_intent_id)

    def stripe_refund() -> Outcome:
        created = gateway.create_refund(intent, order_id, amount, reason, refund_id)
        return str(created["id"]), gateway.retrieve_intent(intent, order_id)

    return stripe_refund


def _toss_cancel(
    client: TossClient, key: str, order_id: str, reason: str, amount: int | None, refund_id: str
) -> Outcome:
    seen = client.cancel(key, order_id, reason, amount, refund_id)
    cancels = seen.raw.get("cancels") or []
    return (str(cancels[-1].get("transactionKey")) if cancels else refund_id), seen


def _succeeded(refund_pk: int, reference: str, seen: GatewayPayment) -> None:
    refund = db.session.get(Refund, refund_pk)
    if refund is None:
        return
    take_sync_lock(refund.payment_id)  # lock order: sync lock, then the payment row
    payment = lock_payment(refund.payment_id)
    db.session.refresh(refund, with_for_update=True)
    if refund.status != RefundStatus.PENDING:
        return
    refund.status = RefundStatus.SUCCEEDED
    refund.gateway_refund_id = reference
    apply_gateway_payment(payment, seen, EventSource.REFUND, actor=refund.requested_by, reason=refund.reason)


def _refused(refund_pk: int, error: GatewayError) -> None:
    """The gateway said no: the payment stays as it was; the ledger shows the refusal."""
    refund = db.session.get(Refund, refund_pk)
    if refund is None:
        return
    payment = lock_payment(refund.payment_id)
    refund.status = RefundStatus.FAILED
    refund.failure_code, refund.failure_message = error.code[:100], error.message[:500]
    ledger.record(
        payment,
        LedgerKind.NOTE,
        EventSource.REFUND,
        amount=refund.amount,
        reference=refund.refund_id,
        actor=refund.requested_by,
        reason=f"refund refused: {error.code}",
        detail={"message": error.message},
    )
    log.warning("refund refused", extra={"order_id": payment.order_id, "code": error.code})


def import_stripe_refunds(payment: Payment, items: list[dict[str, Any]]) -> None:
    """Refunds made in Stripe's dashboard, recorded once by their id; ours are matched by metadata."""
    for item in items:
        gateway_id, ours = item.get("id"), (item.get("metadata") or {}).get("refund_id")
        if not gateway_id or item.get("status") not in ("succeeded", "pending"):
            continue
        known = db.session.execute(
            sa.select(Refund).where(sa.or_(Refund.gateway_refund_id == gateway_id, Refund.refund_id == (ours or "")))
        ).scalar_one_or_none()
        if known is not None:
            continue
        db.session.add(
            Refund(
                refund_id=new_refund_id(),
                payment_id=payment.id,
                amount=int(item["amount"]),
                currency=payment.currency,
                reason="refunded at Stripe",
                status=RefundStatus.SUCCEEDED,
                source=EventSource.WEBHOOK,
                gateway_refund_id=gateway_id,
            )
        )
