"""Refunds: reserved under the payment's lock, executed by a task with our refund id as the key.

The amount of a refund is reserved when it is requested, under the payment's row
lock, so the refunds of a payment never add up to more than was paid, whatever
runs at the same time. The adapter sends it as its gateway wants it (Toss: a
cancel with `cancelReason`; Stripe: a refund, the text in metadata); the gateway's
own webhook for the same refund then finds nothing left to change.

Where the adapter says a method `refunds_to_account` (a deposited virtual account), every
refund of it names the customer's bank account, and no other refund may: the account is
kept on the refund only while it is in flight and appears masked everywhere else.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from chatju.exceptions import InvalidRequestError, NotFoundError, invalid_state
from chatju.extensions import db
from chatju.gateways.port import GatewayError, GatewayPayment, GatewayRefund, RefundAccount, RefundRequest
from chatju.jobs import TaskNames, enqueue_after_commit, retry_countdown
from chatju.payments import ledger
from chatju.payments.adapter import gateway_of, order_of
from chatju.payments.models import Payment, Refund, RefundStatus
from chatju.payments.sync import take_sync_lock
from chatju.payments.transitions import apply_gateway_payment, lock_payment
from chatju.settings import current_settings
from chatju.states import EventSource, LedgerKind, PaymentStatus

log = logging.getLogger(__name__)
REFUNDABLE = (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED)
ACCOUNT_FIELD = "refundReceiveAccount"  # the request's field, named in the answer when it is missing or misplaced


def new_refund_id() -> str:
    return "rf_" + secrets.token_urlsafe(18)


def refundable(payment: Payment) -> int:
    """What may still be refunded: the amount less what was refunded and what is reserved in flight."""
    rows = db.session.execute(
        sa.select(Refund.status, sa.func.sum(Refund.amount))
        .where(Refund.payment_id == payment.id, Refund.status != RefundStatus.FAILED)
        .group_by(Refund.status)
    ).all()
    totals: dict[RefundStatus, int] = {status: int(total or 0) for status, total in rows}
    refunded = max(payment.refunded_amount, int(totals.get(RefundStatus.SUCCEEDED, 0)))
    return payment.amount - refunded - int(totals.get(RefundStatus.PENDING, 0))


def request_refund(
    order_id: str, amount: int | None, reason: str, actor: str, account: RefundAccount | None = None
) -> tuple[Payment, Refund]:
    """Reserve the amount and record the request; the task is sent when this commits."""
    payment_id = db.session.execute(sa.select(Payment.id).where(Payment.order_id == order_id)).scalar_one_or_none()
    if payment_id is None:
        raise NotFoundError("No such order.")
    payment = lock_payment(payment_id)
    if payment.status not in REFUNDABLE:
        raise invalid_state(f"A {payment.status} payment cannot be refunded.", payment.status)
    refusal = gateway_of(payment).refund_refusal(payment.method)
    if refusal is not None:
        raise invalid_state(refusal, payment.status)
    _check_account(payment, account)
    available = refundable(payment)
    amount = available if amount is None else amount
    if amount <= 0 or amount > available:
        raise InvalidRequestError(
            f"At most {available} {payment.currency} can be refunded.",
            {"available": available},
            code="AMOUNT_OUT_OF_RANGE",
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
        receive_account=_account_json(account),
    )
    db.session.add(refund)
    db.session.flush()
    detail: dict[str, Any] = {"refund": "requested"}
    if account is not None:
        detail["account"] = account.masked()
    ledger.record(
        payment,
        LedgerKind.NOTE,
        EventSource.ADMIN,
        amount=amount,
        reference=refund.refund_id,
        actor=actor,
        reason=reason,
        detail=detail,
    )
    enqueue_after_commit(TaskNames.REFUND, (refund.id,))
    return payment, refund


def _check_account(payment: Payment, account: RefundAccount | None) -> None:
    """A refund names the customer's account exactly when its payment's method is refunded to one."""
    needed = gateway_of(payment).refunds_to_account(payment.method)
    if needed and account is None:
        message = f"A {payment.method} payment is refunded to the customer's bank account: {ACCOUNT_FIELD} is required."
    elif account is not None and not needed:
        message = (
            f"A {payment.method or 'payment'} refund goes back the way it was paid: {ACCOUNT_FIELD} is not accepted."
        )
    else:
        return
    raise InvalidRequestError(message, {"fields": [{"field": ACCOUNT_FIELD, "message": message}]})


def _account_json(account: RefundAccount | None) -> dict[str, str] | None:
    if account is None:
        return None
    return {"bank": account.bank, "accountNumber": account.account_number, "holderName": account.holder_name}


def _account_of(refund: Refund) -> RefundAccount | None:
    stored = refund.receive_account
    if not stored:
        return None
    return RefundAccount(stored["bank"], stored["accountNumber"], stored["holderName"])


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
    gateway, order = gateway_of(payment), order_of(payment)
    whole = refund.amount == payment.amount and payment.refunded_amount == 0
    request = RefundRequest(refund.refund_id, refund.amount, refund.reason, whole, _account_of(refund))
    db.session.rollback()  # nothing held while the gateway works
    try:
        result = gateway.refund(order, request)
    except GatewayError as error:
        if error.retryable and not error.replayed and retries_done < current_settings().gateway_max_retries:
            return retry_countdown(retries_done)
        if error.retryable:
            _look_up(refund_pk, payment.id, request.refund_id)  # else still unknown: reconciliation sends it again
            return None
        _refused(refund_pk, error)
        return None
    _succeeded(refund_pk, result.refund.gateway_refund_id, result.payment)
    return None


def _look_up(refund_pk: int, payment_id: int, refund_id: str) -> None:
    """After a saved failure or the last retry: the gateway may have made the refund all the same."""
    payment = db.session.get(Payment, payment_id)
    if payment is None:
        return
    gateway, order = gateway_of(payment), order_of(payment)
    db.session.rollback()
    found = gateway.find_refund(order, refund_id)
    if found is None or not found.settled:
        return
    seen = gateway.fetch(order)
    if seen is not None:
        _succeeded(refund_pk, found.gateway_refund_id, seen)


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
    refund.receive_account = None  # paid out: the customer's account is no longer ours to keep
    apply_gateway_payment(payment, seen, EventSource.REFUND, actor=refund.requested_by, reason=refund.reason)


def _refused(refund_pk: int, error: GatewayError) -> None:
    """The gateway said no: the payment stays as it was; the ledger shows the refusal."""
    refund = db.session.get(Refund, refund_pk)
    if refund is None:
        return
    payment = lock_payment(refund.payment_id)
    refund.status = RefundStatus.FAILED
    refund.failure_code, refund.failure_message = error.code[:100], error.message[:500]
    refund.receive_account = None  # a new request names the account again
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
    # A gateway refund seen while this one was in flight was left to it: look again now.
    enqueue_after_commit(TaskNames.SYNC, (payment.id,))


def import_refunds(payment: Payment, items: Iterable[GatewayRefund]) -> None:
    """Refunds made in the gateway's dashboard, recorded once by their id; ours are matched by our id."""
    for item in items:
        if not item.gateway_refund_id or not item.settled:
            continue
        known = db.session.execute(
            sa.select(Refund).where(
                sa.or_(Refund.gateway_refund_id == item.gateway_refund_id, Refund.refund_id == (item.refund_id or ""))
            )
        ).scalar_one_or_none()
        if known is not None:
            continue
        db.session.add(
            Refund(
                refund_id=new_refund_id(),
                payment_id=payment.id,
                amount=item.amount,
                currency=payment.currency,
                reason=f"refunded at {payment.provider.title()}",
                status=RefundStatus.SUCCEEDED,
                source=EventSource.WEBHOOK,
                gateway_refund_id=item.gateway_refund_id,
            )
        )
