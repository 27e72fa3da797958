"""The Toss path: create an order, confirm it, and follow what Toss reports.

The web side validates and records the attempt; the gateway calls run in Celery
tasks (`payments.confirm_toss`, `payments.sync_toss`) that call into here.
"""

from __future__ import annotations

import hmac
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from chatju.db import utcnow
from chatju.errors import APIError
from chatju.extensions import db
from chatju.gateways.base import GatewayError, GatewayPayment, GatewayRefusal, GatewayRequestError
from chatju.gateways.clients import toss_client
from chatju.gateways.toss import ALREADY_PROCESSED, NOT_FOUND_CODES, SESSION_NOT_FOUND
from chatju.jobs import enqueue_after_commit
from chatju.payments import ledger
from chatju.payments.models import Payment, PaymentEvent
from chatju.payments.service import TOSS_MINIMUM_KRW, create_order, owned_payment, price
from chatju.payments.states import EventSource, LedgerKind, PaymentStatus, Provider, can_move
from chatju.payments.transitions import Failure, apply_gateway_payment, clear_attempt, lock_payment, move, set_failure
from chatju.settings import current_settings

log = logging.getLogger(__name__)
S = PaymentStatus
CONFIRM_TASK = "payments.confirm_toss"
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
    if payment.attempt_key is not None:
        if payment.attempt_key != payment_key:
            raise APIError(409, "INVALID_STATE", "Another confirm is in progress.", {"status": str(payment.status)})
        if _stale(payment.attempt_started_at):
            enqueue_after_commit(CONFIRM_TASK, (payment.id, payment_key))  # its task may have been lost
        return ConfirmStart(payment, payment_key)
    payment.attempt_key = payment_key
    payment.attempt_from_status = payment.status
    payment.attempt_started_at = utcnow()
    if can_move(payment.status, S.PROCESSING):
        move(payment, S.PROCESSING, EventSource.API, reference=payment_key)
    else:  # EXPIRED: the customer is paying now; only PAID may follow
        ledger.record(payment, LedgerKind.NOTE, EventSource.API, reference=payment_key, reason="confirm requested")
    enqueue_after_commit(CONFIRM_TASK, (payment.id, payment_key))
    return ConfirmStart(payment, payment_key)


def _stale(started: datetime | None) -> bool:
    return started is None or started < utcnow() - timedelta(seconds=current_settings().reconcile_after_seconds)


def withdrawal(payment: Payment, attempt_key: str) -> dict[str, Any] | None:
    """The note left when Toss refused to know this paymentKey (NOT_FOUND_PAYMENT_SESSION)."""
    event = db.session.execute(
        sa.select(PaymentEvent)
        .where(PaymentEvent.payment_id == payment.id, PaymentEvent.kind == LedgerKind.NOTE)
        .where(PaymentEvent.gateway_reference == attempt_key, PaymentEvent.reason == "attempt withdrawn")
        .order_by(PaymentEvent.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return event.detail if event is not None else None


# --- worker side ------------------------------------------------------------


@dataclass(frozen=True)
class Retry:
    countdown: float


def run_confirm(payment_id: int, payment_key: str, retries_done: int) -> Retry | None:
    """Send the confirm; settle the attempt, or ask to be retried with the same Idempotency-Key."""
    payment = db.session.get(Payment, payment_id)
    if payment is None or payment.attempt_key != payment_key:
        return None  # settled meanwhile (a webhook, an earlier run)
    client = toss_client()
    try:
        seen = client.confirm(payment_key, payment.order_id, payment.amount)
    except GatewayError as error:
        return _confirm_failed(payment_id, payment_key, error, retries_done)
    _settle(payment_id, payment_key, seen)
    return None


def _confirm_failed(payment_id: int, payment_key: str, error: GatewayError, retries_done: int) -> Retry | None:
    client = toss_client()
    if error.code == ALREADY_PROCESSED:
        # Confirmed before (by an earlier attempt whose answer we lost): ask Toss what happened.
        return _settle_by_fetch(payment_id, payment_key, lambda order_id: client.fetch(payment_key, order_id))
    if error.code == SESSION_NOT_FOUND:
        _withdraw(payment_id, payment_key, error)
        return None
    if isinstance(error, GatewayRefusal):
        _refuse(payment_id, payment_key, error)
        return None
    if error.retryable and retries_done < current_settings().gateway_max_retries:
        return Retry(_backoff(retries_done))
    if isinstance(error, GatewayRequestError):
        log.error("Toss rejected our confirm request", extra={"code": error.code, "payment_id": payment_id})
    # Retries exhausted, or a saved failure replayed: learn the real state before deciding.
    return _settle_by_fetch(payment_id, payment_key, client.fetch_by_order)


def _backoff(retries_done: int) -> float:
    base = current_settings().gateway_retry_backoff_seconds
    return base * 2**retries_done + random.uniform(0, base)  # noqa: S311 (jitter, not security)


def _settle(payment_id: int, payment_key: str, seen: GatewayPayment) -> None:
    payment = lock_payment(payment_id)
    apply_gateway_payment(payment, seen, EventSource.API)
    if seen.reference == payment_key and payment.attempt_key == payment_key and not payment.needs_review:
        clear_attempt(payment)


def _settle_by_fetch(payment_id: int, payment_key: str, fetch: Any) -> None:
    """Apply what Toss reports now; leave a still-unknown attempt in PROCESSING for reconciliation."""
    payment = db.session.get(Payment, payment_id)
    if payment is None:
        return None
    try:
        seen: GatewayPayment = fetch(payment.order_id)
    except GatewayError as error:
        log.warning("attempt left for reconciliation", extra={"order_id": payment.order_id, "code": error.code})
        return None
    locked = lock_payment(payment_id)
    if not relevant(locked, seen):
        return None
    apply_gateway_payment(locked, seen, EventSource.API)
    if seen.reference == payment_key and seen.target is not None and locked.attempt_key == payment_key:
        clear_attempt(locked)
    return None


def _withdraw(payment_id: int, payment_key: str, error: GatewayError) -> None:
    """Toss never accepted this paymentKey: the order goes back to where it was."""
    payment = lock_payment(payment_id)
    if payment.attempt_key != payment_key:
        return
    previous = payment.attempt_from_status or S.PENDING
    if payment.status == S.PROCESSING:
        payment.status = previous  # the one move outside the table: an attempt that never existed
    clear_attempt(payment)
    ledger.record(
        payment,
        LedgerKind.NOTE,
        EventSource.API,
        from_status=S.PROCESSING,
        to_status=payment.status,
        reference=payment_key,
        reason="attempt withdrawn",
        detail={"code": error.code, "message": error.message},
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


# --- following Toss (webhooks, reconciliation) -------------------------------


def sync_payment(payment_id: int, source: EventSource, newer_than: datetime | None = None) -> str:
    """Re-fetch the payment from Toss by order id and apply it; coalesced per order.

    Under a per-payment lock, a sync that finds the payment already fetched after
    `newer_than` does nothing: many webhooks for one order cost one call to Toss.
    """
    take_sync_lock(payment_id)
    payment = db.session.get(Payment, payment_id, populate_existing=True)
    if payment is None:
        return "no such payment"
    if newer_than is not None and payment.synced_at is not None and payment.synced_at >= newer_than:
        return "coalesced"
    started = utcnow()
    try:
        seen = toss_client().fetch_by_order(payment.order_id)
    except GatewayError as error:
        if error.code in NOT_FOUND_CODES:
            return "unknown at Toss"  # the customer never reached the checkout
        raise
    payment = lock_payment(payment_id)
    payment.synced_at = started
    if not relevant(payment, seen):
        return "older attempt"
    apply_gateway_payment(payment, seen, source)
    if payment.attempt_key is not None and seen.reference == payment.attempt_key and seen.target is not None:
        clear_attempt(payment)
    return "applied"


def take_sync_lock(payment_id: int) -> None:
    """A transaction-scoped advisory lock per payment (PostgreSQL; SQLite serialises writers)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(SYNC_LOCK_SPACE + payment_id)))


SYNC_LOCK_SPACE = 0x70A5 << 48  # keeps these advisory keys apart from any others


def deposit_secret_matches(payment: Payment, secret: Any) -> bool:
    """DEPOSIT_CALLBACK carries the secret Toss gave us at confirm; compare in constant time."""
    if not isinstance(secret, str) or not payment.gateway_secret:
        return False
    return hmac.compare_digest(secret.encode(), payment.gateway_secret.encode())


def relevant(payment: Payment, seen: GatewayPayment) -> bool:
    """Apply what Toss reports unless it is an older attempt while a newer one is in flight."""
    return seen.approved or payment.attempt_key is None or seen.reference == payment.attempt_key
