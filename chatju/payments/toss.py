"""The Toss path: create an order, confirm it, and follow what Toss reports.

The web side validates and records the attempt; the gateway calls run in Celery
tasks (`payments.confirm_toss`, `payments.sync_toss`) that call into here.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from chatju.db import utcnow
from chatju.errors import APIError
from chatju.extensions import db
from chatju.gateways.base import GatewayError, GatewayPayment, GatewayRefusal, GatewayRequestError
from chatju.gateways.clients import toss_client
from chatju.gateways.toss import ALREADY_PROCESSED, CONNECT_TIMEOUT_SECONDS, SESSION_GONE_CODES
from chatju.jobs import enqueue_after_commit, retry_countdown
from chatju.payments import ledger, sync
from chatju.payments.models import Payment, PaymentEvent
from chatju.payments.service import TOSS_MINIMUM_KRW, create_order, owned_payment, price
from chatju.payments.states import EventSource, LedgerKind, PaymentStatus, Provider, can_move
from chatju.payments.transitions import Failure, apply_gateway_payment, clear_attempt, lock_payment, move, set_failure
from chatju.settings import current_settings

log = logging.getLogger(__name__)
S = PaymentStatus
CONFIRM_TASK = "payments.confirm_toss"
WITHDRAWN = "attempt withdrawn"
DEFAULT_ORDER_NAME = "ChatJu order"


# --- web side ---------------------------------------------------------------


def create_toss_order(user_id: int, amount: int | None, order_name: str | None, product_id: str | None) -> Payment:
    amount, product_name = price("KRW", amount, product_id, TOSS_MINIMUM_KRW)
    return create_order(user_id, Provider.TOSS, amount, "KRW", order_name or product_name or DEFAULT_ORDER_NAME)


def checkout_fields(payment: Payment, customer_key: str) -> dict[str, str]:
    """What the browser's Toss widget needs besides the order itself."""
    settings = current_settings()
    return {
        "clientKey": settings.toss_client_key,
        "customerKey": customer_key,
        "successUrl": f"{settings.frontend_url}/toss/success",
        "failUrl": f"{settings.frontend_url}/toss/fail",
    }


@dataclass(frozen=True)
class ConfirmStart:
    payment: Payment
    attempt_key: str | None  # None: nothing to wait for, the payment is already final


def begin_confirm(user_id: int, order_id: str, payment_key: str, amount: int) -> ConfirmStart:
    """Check the order under its row lock and record the attempt; the task is sent on commit."""
    payment = owned_payment(user_id, order_id, Provider.TOSS, lock=True)
    if amount != payment.amount:
        raise APIError(400, "AMOUNT_MISMATCH", "amount does not match the order.", {"expected": payment.amount})
    if payment.status == S.CANCELED:
        raise APIError(409, "INVALID_STATE", "The order was canceled.", {"status": str(payment.status)})
    if payment.payment_key is not None:
        # Toss already accepted a card for this order (paid, refunded or awaiting a deposit).
        if payment.payment_key != payment_key:
            raise APIError(409, "PAYMENT_KEY_MISMATCH", "The order was paid with another paymentKey.")
        return ConfirmStart(payment, None)
    if payment.attempt_key == payment_key:
        if _stale(payment.attempt_started_at):
            _send(payment, payment_key)  # its task was lost (a broker outage) or outlived: send it again
        return ConfirmStart(payment, payment_key)
    if payment.attempt_key is not None:
        if not _stale(payment.attempt_started_at):
            raise APIError(409, "INVALID_STATE", "Another confirm is in progress.", {"status": str(payment.status)})
        # Long past any retry of the old attempt: Toss refuses a second card for an order it has paid.
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
    enqueue_after_commit(CONFIRM_TASK, (payment.id, payment_key))


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
    """Why Toss would not confirm a paymentKey, as the confirm route reports it."""

    status: int
    code: str
    message: str


def withdrawal(payment: Payment, attempt_key: str) -> Withdrawal | None:
    """The ledger row left when Toss would not take this paymentKey, if any."""
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
    order_id, amount = payment.order_id, payment.amount
    db.session.rollback()  # no transaction (nor pooled connection) held while Toss thinks
    try:
        seen = toss_client().confirm(payment_key, order_id, amount)
    except GatewayError as error:
        return _confirm_failed(payment_id, payment_key, error, retries_done)
    _settle(payment_id, payment_key, seen)
    return None


def _confirm_failed(payment_id: int, payment_key: str, error: GatewayError, retries_done: int) -> Retry | None:
    if error.code == ALREADY_PROCESSED:
        # Confirmed before (by an earlier try whose answer we lost): ask Toss what happened.
        _settled_by_fetch(payment_id, payment_key, by_key=True)
        return None
    if error.retryable and not error.replayed and retries_done < current_settings().gateway_max_retries:
        return Retry(retry_countdown(retries_done))
    # From here on, an earlier try may have gone through: Toss's view decides first.
    if retries_done and _settled_by_fetch(payment_id, payment_key):
        return None
    if error.code in SESSION_GONE_CODES:
        _withdraw(payment_id, payment_key, Withdrawal(400, error.code, error.message))
    elif isinstance(error, GatewayRefusal):
        _refuse(payment_id, payment_key, error)
    elif isinstance(error, GatewayRequestError):
        log.error("Toss rejected our confirm request", extra={"code": error.code, "payment_id": payment_id})
        _withdraw(
            payment_id, payment_key, Withdrawal(502, "GATEWAY_ERROR", f"Toss refused the request ({error.code}).")
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
    """Apply what Toss reports for this attempt now; False when Toss has nothing final for it."""
    payment = db.session.get(Payment, payment_id)
    if payment is None:
        return True
    order_id = payment.order_id
    db.session.rollback()
    client = toss_client()
    try:
        seen = client.fetch(payment_key, order_id) if by_key else client.fetch_by_order(order_id)
    except GatewayError as error:
        log.warning("attempt left for reconciliation", extra={"order_id": order_id, "code": error.code})
        return False
    if seen.target is None or not (seen.approved or seen.reference == payment_key):
        return False
    _settle(payment_id, payment_key, seen)
    return True


def _withdraw(payment_id: int, payment_key: str, why: Withdrawal) -> None:
    """Toss never took this paymentKey: the order goes back to where it was before the attempt."""
    payment = lock_payment(payment_id)
    if payment.attempt_key != payment_key:
        return
    current, previous = payment.status, payment.attempt_from_status or S.PENDING
    detail = {"status": why.status, "code": why.code, "message": why.message}
    clear_attempt(payment)
    if current == S.PROCESSING:
        # The one move outside the table (states.WITHDRAWAL): an attempt Toss never accepted.
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


# --- webhooks ---------------------------------------------------------------


def deposit_secret_mismatch(payment: Payment, secret: Any) -> bool:
    """DEPOSIT_CALLBACK carries the secret Toss gave us at confirm; a different one is forged.

    An unknown secret (the confirm answer was lost) is not held against the callback:
    the worker re-fetches from Toss either way.
    """
    if not payment.gateway_secret:
        return False
    return not (isinstance(secret, str) and hmac.compare_digest(secret.encode(), payment.gateway_secret.encode()))
