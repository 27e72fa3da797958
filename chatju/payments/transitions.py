"""Applying what a gateway reports to a locked payment, through the state machine.

Every function here expects the payment row locked (`lock_payment`) and runs in
the caller's transaction: the status change and its ledger row commit together.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa

from chatju.db import utcnow
from chatju.extensions import db
from chatju.gateways.port import GatewayPayment
from chatju.observability import metrics
from chatju.payments import ledger, outbox
from chatju.payments.adapter import bound_reference
from chatju.payments.models import Effect, Payment
from chatju.states import EventSource, LedgerKind, PaymentStatus, can_move, is_paid

log = logging.getLogger(__name__)
S = PaymentStatus


def lock_payment(payment_id: int) -> Payment:
    """Load the payment with `SELECT ... FOR UPDATE`.

    On PostgreSQL this serialises every change to one payment. SQLite (the embedded
    default) has no row locks: there the guarantees are best effort, as SPEC §2 says.
    """
    payment = db.session.execute(
        sa.select(Payment).where(Payment.id == payment_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()
    return payment


@dataclass(frozen=True)
class Failure:
    code: str
    message: str
    decline_code: str | None = None


def move(
    payment: Payment,
    target: PaymentStatus,
    source: EventSource,
    *,
    reference: str | None = None,
    refunded_amount: int | None = None,
    failure: Failure | None = None,
    actor: str | None = None,
    reason: str | None = None,
) -> bool:
    """Move to `target` if the table allows it; record the move, or the refusal. True if moved."""
    current = payment.status
    grows_refund = refunded_amount is not None and refunded_amount > payment.refunded_amount
    if target == current and not (target == S.PARTIALLY_REFUNDED and grows_refund):
        known = (payment.failure_code, payment.failure_decline_code)
        if failure is not None and (failure.code, failure.decline_code) != known:
            set_failure(payment, failure)  # another card declined: show the latest reason
            ledger.record(payment, LedgerKind.NOTE, source, reference=reference, reason=f"failed again: {failure.code}")
        return False  # already there: a repeat, nothing to record
    if not can_move(current, target):
        ledger.record(
            payment,
            LedgerKind.IGNORED,
            source,
            from_status=current,
            to_status=target,
            reference=reference,
            reason=f"{current} may not become {target}",
        )
        log.info("transition ignored", extra={"order_id": payment.order_id, "from": current, "to": target})
        return False
    payment.status = target
    payment.job_attempts, payment.next_attempt_at = 0, utcnow()  # a new state: the jobs' backoff starts afresh
    if refunded_amount is not None:
        # refundedAmount never decreases; a full refund is the whole amount.
        payment.refunded_amount = max(payment.refunded_amount, min(refunded_amount, payment.amount))
    if target == S.REFUNDED:
        payment.refunded_amount = payment.amount
    if target in (S.CANCELED, S.EXPIRED):
        payment.client_secret = None
    if target == S.PAID:
        payment.paid_at = payment.paid_at or utcnow()
        payment.failure_code = payment.failure_message = payment.failure_decline_code = None
        payment.client_secret = None  # no longer needed once paid
    if failure is not None:
        set_failure(payment, failure)
    elif target == S.PROCESSING:
        payment.failure_code = payment.failure_message = payment.failure_decline_code = None  # a new attempt
    if target != S.PROCESSING:
        clear_attempt(payment)
    _schedule_effects(payment, current, target)
    ledger.record(
        payment,
        LedgerKind.TRANSITION,
        source,
        from_status=current,
        to_status=target,
        reference=reference,
        amount=payment.refunded_amount if target in (S.PARTIALLY_REFUNDED, S.REFUNDED) else payment.amount,
        actor=actor,
        reason=reason,
    )
    log.info("payment moved", extra={"order_id": payment.order_id, "from": current, "to": target, "source": source})
    metrics.count_move(payment.provider, str(target))
    return True


def _schedule_effects(payment: Payment, current: PaymentStatus, target: PaymentStatus) -> None:
    """What the change buys or takes back, queued in the same transaction (chatju.fulfilment)."""
    if target == S.PAID and not is_paid(current):
        outbox.schedule(payment.id, Effect.GRANT, Effect.RECEIPT)
    elif target == S.REFUNDED:
        outbox.schedule(payment.id, Effect.REVOKE)


def set_failure(payment: Payment, failure: Failure) -> None:
    payment.failure_code = failure.code[:100]
    payment.failure_message = failure.message[:500]
    payment.failure_decline_code = failure.decline_code


def clear_attempt(payment: Payment) -> None:
    payment.attempt_key = None
    payment.attempt_from_status = None
    payment.attempt_started_at = None


def flag_review(payment: Payment, source: EventSource, reason: str, detail: dict[str, object]) -> None:
    """Hold a payment for a person: never applied by guess (SPEC §7, integrity)."""
    log.error("payment held for review", extra={"order_id": payment.order_id, "reason": reason})
    metrics.count_flag(payment.provider)
    if payment.needs_review:
        ledger.record(payment, LedgerKind.NOTE, source, reason=reason, detail=detail)
        return
    payment.needs_review = True
    ledger.record(payment, LedgerKind.FLAG, source, reason=reason, detail={"flag": "NEEDS_REVIEW", **detail})


def mismatch(payment: Payment, seen: GatewayPayment) -> dict[str, object] | None:
    """What the gateway reports that disagrees with the stored order, if anything."""
    found: dict[str, object] = {}
    if seen.amount != payment.amount:
        found["amount"] = {"stored": payment.amount, "gateway": seen.amount}
    if seen.currency != payment.currency:
        found["currency"] = {"stored": payment.currency, "gateway": seen.currency}
    if seen.order_id is not None and seen.order_id != payment.order_id:
        found["orderId"] = {"stored": payment.order_id, "gateway": seen.order_id}
    bound = bound_reference(payment)
    if bound is not None and seen.reference and seen.reference != bound:
        found["reference"] = {"stored": bound, "gateway": seen.reference}
    return found or None


def apply_gateway_payment(
    payment: Payment, seen: GatewayPayment, source: EventSource, actor: str | None = None, reason: str | None = None
) -> None:
    """Bring the payment in line with the gateway's view (never the other way round)."""
    problems = mismatch(payment, seen)
    if problems:
        flag_review(payment, source, "gateway reports a different order", {"mismatch": problems, "ref": seen.reference})
        return
    target = seen.target
    if target is None:
        return
    _copy_details(payment, seen)
    if target == S.CANCELED and is_paid(payment.status):
        target = S.REFUNDED  # a cancel of a paid payment (a deposited virtual account, say) is a refund
    if target == S.PROCESSING and is_paid(payment.status):
        # A paid virtual account dropped back to waiting for its deposit.
        flag_review(payment, source, "gateway reports a paid payment as unpaid again", {"status": seen.gateway_status})
        return
    if seen.approved and not is_paid(payment.status) and target != S.PAID:
        move(payment, S.PAID, source, reference=seen.reference)  # the success we missed comes first
    failure = None
    if target == S.FAILED:
        failure = Failure(
            seen.failure_code or seen.gateway_status, seen.failure_message or "", seen.failure_decline_code
        )
    move(
        payment,
        target,
        source,
        reference=seen.reference,
        refunded_amount=seen.refunded_amount,
        failure=failure,
        actor=actor,
        reason=reason,
    )


def _copy_details(payment: Payment, seen: GatewayPayment) -> None:
    """Record what the gateway says about how it was paid (never card numbers)."""
    if seen.target in (S.PAID, S.PROCESSING, S.PARTIALLY_REFUNDED, S.REFUNDED) or seen.approved:
        if bound_reference(payment) is None and seen.reference:
            payment.payment_key = seen.reference  # the checkout's key, bound now that the gateway accepted it
        payment.method = seen.method or payment.method
        payment.card_brand = seen.card_brand or payment.card_brand
        payment.card_last4 = seen.card_last4 or payment.card_last4
        payment.receipt_url = seen.receipt_url or payment.receipt_url
        if seen.approved_at and payment.paid_at is None:
            payment.paid_at = seen.approved_at
    if seen.secret:
        payment.gateway_secret = seen.secret
