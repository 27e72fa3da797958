"""Confirming a checkout: for gateways whose checkout returns a key that we confirm (`confirms`).

The web side validates and records the attempt; the gateway call runs in a Celery
task (`payments.confirm`) that calls into here. A new key (another card) is a new
attempt; the same key is the same operation, retried under the same idempotency key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from chatju.db import utcnow
from chatju.exceptions import ConflictError, InvalidRequestError, invalid_state
from chatju.extensions import db
from chatju.gateways.port import (
    CONNECT_TIMEOUT_SECONDS,
    Gateway,
    GatewayError,
    GatewayPayment,
    GatewayRefusal,
    GatewayRequestError,
)
from chatju.jobs import TaskNames, enqueue_after_commit, retry_countdown
from chatju.payments import ledger, sync
from chatju.payments.adapter import gateway_of, order_of
from chatju.payments.models import Payment, PaymentEvent
from chatju.payments.service import owned_payment
from chatju.payments.transitions import Failure, apply_gateway_payment, clear_attempt, lock_payment, move, set_failure
from chatju.settings import current_settings
from chatju.states import EventSource, LedgerKind, PaymentStatus, can_move

log = logging.getLogger(__name__)
S = PaymentStatus
WITHDRAWN = "attempt withdrawn"


# --- web side ---------------------------------------------------------------


@dataclass(frozen=True)
class ConfirmStart:
    payment: Payment
    attempt_key: str | None  # None: nothing to wait for, the payment is already final


def begin_confirm(gateway: Gateway, user_id: int, order_id: str, payment_key: str, amount: int) -> ConfirmStart:
    """Check the order under its row lock and record the attempt; the task is sent on commit."""
    payment = owned_payment(user_id, order_id, gateway.name, lock=True)
    if amount != payment.amount:
        raise InvalidRequestError(
            "amount does not match the order.", {"expected": payment.amount}, code="AMOUNT_MISMATCH"
        )
    if payment.status == S.CANCELED:
        raise invalid_state("The order was canceled.", payment.status)
    if payment.payment_key is not None:
        # The gateway already accepted a card for this order (paid, refunded or awaiting a deposit).
        if payment.payment_key != payment_key:
            raise ConflictError("The order was paid with another paymentKey.", code="PAYMENT_KEY_MISMATCH")
        return ConfirmStart(payment, None)
    if payment.attempt_key == payment_key:
        if _stale(payment.attempt_started_at):
            _send(payment, payment_key)  # its task was lost (a broker outage) or outlived: send it again
        return ConfirmStart(payment, payment_key)
    if payment.attempt_key is not None:
        if not _stale(payment.attempt_started_at):
            raise invalid_state("Another confirm is in progress.", payment.status)
        # Long past any retry of the old attempt: a gateway refuses a second card for an order it has paid.
        ledger.record(
            payment, LedgerKind.NOTE, EventSource.API, reference=payment.attempt_key, reason="attempt replaced"
        )
    else:
        payment.attempt_from_status = payment.status
    payment.attempt_key = payment_key
    if can_move(payment.status, S.PROCESSING):
        move(payment, S.PROCESSING, EventSource.API, reference=payment_key)
    elif payment.status != S.PROCESSING:  # EXPIRED: the customer is paying now; only PAID may follow
        ledger.record(payment, LedgerKind.NOTE, EventSource.API, reference=payment_key, reason="confirm requested")
    _send(payment, payment_key)
    return ConfirmStart(payment, payment_key)


def _send(payment: Payment, payment_key: str) -> None:
    payment.attempt_started_at = utcnow()
    enqueue_after_commit(TaskNames.CONFIRM, (payment.id, payment_key), ignore_result=True)  # the route waits on the row


def confirm_not_sent(payment_id: int) -> None:
    """The broker refused the confirm task: mark the attempt so the next confirm re-sends it."""
    db.session.close()  # the commit went through; the failure came from its after-commit hook
    payment = lock_payment(payment_id)
    payment.attempt_started_at = None
    db.session.commit()


def attempt_budget() -> timedelta:
    """How long one confirm can legitimately take: every try timing out, every backoff at its longest."""
    settings = current_settings()
    tries = settings.gateway_max_retries + 1
    per_try = settings.gateway_timeout_seconds + CONNECT_TIMEOUT_SECONDS
    backoff = settings.gateway_retry_backoff_seconds * 2 ** (tries + 1)
    return timedelta(seconds=tries * per_try + backoff)


def _stale(started: datetime | None) -> bool:
    return started is None or started < utcnow() - attempt_budget()


@dataclass(frozen=True)
class Withdrawal:
    """Why the gateway would not confirm a key, as the confirm route reports it."""

    status: int
    code: str
    message: str


def withdrawal(payment: Payment, attempt_key: str) -> Withdrawal | None:
    """The ledger row left when the gateway would not take this key, if any."""
    event = db.session.execute(
        sa.select(PaymentEvent)
        .where(PaymentEvent.payment_id == payment.id, PaymentEvent.reason == WITHDRAWN)
        .where(PaymentEvent.gateway_reference == attempt_key)
        .order_by(PaymentEvent.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if event is None or not event.detail:
        return None
    return Withdrawal(event.detail["status"], event.detail["code"], event.detail["message"])


# --- worker side ------------------------------------------------------------


@dataclass(frozen=True)
class Retry:
    countdown: float


def run_confirm(payment_id: int, payment_key: str, retries_done: int) -> Retry | None:
    """Send the confirm; settle the attempt, or ask to be retried with the same Idempotency-Key."""
    payment = db.session.get(Payment, payment_id)
    if payment is None or payment.attempt_key != payment_key:
        return None  # settled meanwhile (a webhook, an earlier run)
    gateway, order = gateway_of(payment), order_of(payment)
    db.session.rollback()  # no transaction (nor pooled connection) held while the gateway thinks
    try:
        seen = gateway.confirm(order, payment_key)
    except GatewayError as error:
        return _confirm_failed(payment_id, payment_key, error, retries_done)
    _settle(payment_id, payment_key, seen)
    return None


def _confirm_failed(payment_id: int, payment_key: str, error: GatewayError, retries_done: int) -> Retry | None:
    if error.already_done:
        # Confirmed before (by an earlier try whose answer we lost): ask the gateway what happened.
        _settled_by_fetch(payment_id, payment_key, by_key=True)
        return None
    if error.retryable and not error.replayed and retries_done < current_settings().gateway_max_retries:
        return Retry(retry_countdown(retries_done))
    # From here on, an earlier try may have gone through: the gateway's view decides first.
    if retries_done and _settled_by_fetch(payment_id, payment_key):
        return None
    if error.attempt_unknown:
        _withdraw(payment_id, payment_key, Withdrawal(400, error.code, error.message))
    elif isinstance(error, GatewayRefusal):
        _refuse(payment_id, payment_key, error)
    elif isinstance(error, GatewayRequestError):
        log.error("the gateway rejected our confirm request", extra={"code": error.code, "payment_id": payment_id})
        _withdraw(
            payment_id,
            payment_key,
            Withdrawal(502, "GATEWAY_ERROR", f"The gateway refused the request ({error.code})."),
        )
    elif not retries_done:
        _settled_by_fetch(payment_id, payment_key)
    # What is still unknown stays PROCESSING, for reconciliation (SPEC §1), rather than guessed.
    return None


def _settle(payment_id: int, payment_key: str, seen: GatewayPayment) -> None:
    payment = lock_payment(payment_id)
    if not sync.relevant(payment, seen):
        return
    apply_gateway_payment(payment, seen, EventSource.API)
    if seen.reference == payment_key and payment.attempt_key == payment_key and not payment.needs_review:
        clear_attempt(payment)


def _settled_by_fetch(payment_id: int, payment_key: str, by_key: bool = False) -> bool:
    """Apply what the gateway reports for this attempt now; False when it has nothing final for it."""
    payment = db.session.get(Payment, payment_id)
    if payment is None:
        return True
    gateway, order = gateway_of(payment), order_of(payment)
    db.session.rollback()
    try:
        seen = gateway.fetch_attempt(order, payment_key) if by_key else gateway.fetch(order)
    except GatewayError as error:
        log.warning("attempt left for reconciliation", extra={"order_id": order.order_id, "code": error.code})
        return False
    if seen is None:
        return False
    if seen.target is None or not (seen.approved or seen.reference == payment_key):
        return False
    _settle(payment_id, payment_key, seen)
    return True


def _withdraw(payment_id: int, payment_key: str, why: Withdrawal) -> None:
    """The gateway never took this key: the order goes back to where it was before the attempt."""
    payment = lock_payment(payment_id)
    if payment.attempt_key != payment_key:
        return
    current, previous = payment.status, payment.attempt_from_status or S.PENDING
    detail = {"status": why.status, "code": why.code, "message": why.message}
    clear_attempt(payment)
    if current == S.PROCESSING:
        # The one move outside the table (see chatju.states): an attempt the gateway never accepted.
        payment.status = previous
        kind = LedgerKind.TRANSITION
    else:
        kind = LedgerKind.NOTE
    ledger.record(
        payment,
        kind,
        EventSource.API,
        from_status=current,
        to_status=payment.status,
        reference=payment_key,
        reason=WITHDRAWN,
        detail=detail,
    )


def _refuse(payment_id: int, payment_key: str, error: GatewayError) -> None:
    """A business refusal at confirm: the order fails; another card may still pay it."""
    payment = lock_payment(payment_id)
    if payment.attempt_key != payment_key:
        return
    failure = Failure(error.code, error.message)
    if not move(payment, S.FAILED, EventSource.API, reference=payment_key, failure=failure):
        set_failure(payment, failure)  # EXPIRED stays EXPIRED, but the customer sees why
    clear_attempt(payment)
