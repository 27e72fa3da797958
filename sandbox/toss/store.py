"""Toss payments in memory: the state machine of reference §3, with a webhook per change.

One lock guards every payment. Webhooks are queued while it is held (lock order: this
lock, then the sender's), so a payment's events are queued in the order its changes
happened; they are delivered later by the sender's own thread.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any

from sandbox.clock import kst_iso, kst_naive_seconds, now_kst
from sandbox.toss import events
from sandbox.toss.errors import AMOUNT_MISMATCH_MESSAGE, TossError, message_for
from sandbox.toss.payments import (
    ABORTED,
    CANCELED,
    DONE,
    EXPIRED,
    IN_PROGRESS,
    PARTIAL_CANCELED,
    REJECT,
    SETTLED,
    WAITING,
    TossPayment,
    card_block,
    new_payment_key,
    new_secret,
    new_transaction_key,
    virtual_account_block,
)
from sandbox.toss.refund_accounts import refund_account
from sandbox.toss.transactions import TransactionLog
from sandbox.webhooks import WebhookSender

VIRTUAL_ACCOUNT_VALID_DAYS = 7


class StateError(Exception):
    """A control action that does not apply to the order's payment as it stands."""


class TossStore:
    def __init__(self, confirm_window_seconds: float, webhooks: WebhookSender) -> None:
        self._lock = threading.Lock()
        self._payments: dict[str, TossPayment] = {}
        self._orders: dict[str, list[str]] = {}
        self._transactions = TransactionLog()
        self._window = confirm_window_seconds
        self._webhooks = webhooks
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    # The hosted checkout.

    def authorize(self, *, order_id: str, order_name: str, amount: int, customer_key: str | None,
                  card_choice: str, base_url: str) -> str:  # fmt: skip
        """The customer authenticated: a new IN_PROGRESS payment; returns its paymentKey."""
        with self._lock:
            current = self._current(order_id)
            if current is not None and current.status in SETTLED:
                raise TossError("DUPLICATED_ORDER_ID")
            payment = TossPayment(
                payment_key=new_payment_key(), order_id=order_id, order_name=order_name, amount=amount,
                customer_key=customer_key, card_choice=card_choice, base_url=base_url,
                requested_at=now_kst(), authenticated_at=time.monotonic(),
            )  # fmt: skip
            self._payments[payment.payment_key] = payment
            self._orders.setdefault(order_id, []).append(payment.payment_key)
        self._start_sweeper()
        return payment.payment_key

    # The API.

    def confirm(self, payment_key: str, order_id: str, amount: int) -> dict[str, Any]:
        with self._lock:
            payment = self._payments.get(payment_key)
            if payment is not None:
                self._refresh(payment)
            if payment is None or payment.order_id != order_id or payment.status == EXPIRED:
                raise TossError("NOT_FOUND_PAYMENT_SESSION")
            if payment.status != IN_PROGRESS:  # DONE, waiting, cancelled, and ABORTED too
                raise TossError("ALREADY_PROCESSED_PAYMENT")
            if amount != payment.amount:
                raise TossError("INVALID_REQUEST", AMOUNT_MISMATCH_MESSAGE)
            if payment.card_choice == REJECT:
                self._abort(payment, "REJECT_CARD_PAYMENT")
                raise TossError("REJECT_CARD_PAYMENT")
            if payment.is_virtual_account:
                self._issue_account(payment)
            else:
                self._approve(payment)
            return payment.to_json()

    def cancel(
        self, payment_key: str, reason: str, amount: int | None, refundable: int | None, account: Any = None
    ) -> dict[str, Any]:
        """Full or partial cancel; a deposited virtual account is refunded to `account` (refundReceiveAccount)."""
        with self._lock:
            payment = self._get(payment_key)
            if payment.status == CANCELED:
                raise TossError("ALREADY_CANCELED_PAYMENT")
            if payment.status not in (DONE, PARTIAL_CANCELED, WAITING):
                raise TossError("NOT_CANCELABLE_PAYMENT")
            if refundable is not None and refundable != payment.balance:
                raise TossError("NOT_MATCHES_REFUNDABLE_AMOUNT")
            amount = payment.balance if amount is None else amount
            if payment.status == WAITING and amount != payment.balance:
                raise TossError("NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT")
            if amount > payment.balance:
                raise TossError("NOT_CANCELABLE_AMOUNT")
            if payment.is_virtual_account and payment.status != WAITING:
                self._refund_to(payment, refund_account(account))
            self._cancel(payment, reason, amount)
            return payment.to_json()

    def get(self, payment_key: str) -> dict[str, Any]:
        with self._lock:
            return self._get(payment_key).to_json()

    def get_by_order(self, order_id: str) -> dict[str, Any]:
        with self._lock:
            payment = self._current(order_id)
            if payment is None:
                raise TossError("NOT_FOUND_PAYMENT")
            return payment.to_json()

    # The control API.

    def deposit(self, order_id: str) -> dict[str, Any]:
        """The customer paid into the virtual account: WAITING_FOR_DEPOSIT → DONE."""
        with self._lock:
            payment = self._current_or_fail(order_id)
            if payment.status != WAITING:
                raise StateError(f"order {order_id} has no virtual account waiting for a deposit ({payment.status})")
            payment.status, payment.approved_at = DONE, now_kst()
            payment.last_transaction_key = new_transaction_key()
            self._transactions.record(payment, DONE, payment.amount, payment.last_transaction_key, payment.approved_at)
            if payment.virtual_account is not None:
                payment.virtual_account["settlementStatus"] = "COMPLETED"
            self._notify(payment)
            return payment.to_json()

    def expire(self, order_id: str) -> dict[str, Any]:
        """Expire the order's authenticated, unconfirmed payments now."""
        with self._lock:
            waiting = [p for p in self._attempts(order_id) if p.status == IN_PROGRESS]
            if not waiting:
                raise StateError(f"order {order_id} has no IN_PROGRESS payment")
            for payment in waiting:
                self._expire(payment)
            return self._current_or_fail(order_id).to_json()

    def send_webhook(self, order_id: str, event_type: str, status: str | None) -> str:
        """Send a webhook for the order's payment now, its status optionally forged; state unchanged."""
        with self._lock:
            payment = self._current_or_fail(order_id)
            build = events.deposit_callback if event_type == events.DEPOSIT_CALLBACK else events.status_changed
            return self._emit(payment, event_type, build(payment, status))

    def payments(self) -> list[dict[str, Any]]:
        with self._lock:
            return [p.to_json() for p in self._payments.values()]

    def transactions(self, start: datetime, end: datetime, after: str | None, limit: int) -> list[dict[str, Any]]:
        with self._lock:
            return self._transactions.page(start, end, after, limit)

    def forget(self, order_id: str) -> list[str]:
        """Toss loses every payment of the order, and their transactions; returns their paymentKeys."""
        with self._lock:
            keys = [p.payment_key for p in self._attempts(order_id)]
            if not keys:
                raise TossError("NOT_FOUND_PAYMENT")
            for key in keys:
                del self._payments[key]
            del self._orders[order_id]
            self._transactions.forget(set(keys))
            return keys

    def backdate(self, order_id: str, seconds: float) -> dict[str, Any]:
        """Move the order's payments, their cancels and their transactions `seconds` into the past."""
        by = timedelta(seconds=seconds)
        with self._lock:
            attempts = self._attempts(order_id)
            if not attempts:
                raise TossError("NOT_FOUND_PAYMENT")
            for payment in attempts:
                payment.backdate(by)
            self._transactions.shift({p.payment_key for p in attempts}, by)
            return self._current_or_fail(order_id).to_json()

    def expire_due(self) -> None:
        with self._lock:
            for payment in self._payments.values():
                self._refresh(payment)

    def reset(self) -> None:
        with self._lock:
            self._payments.clear()
            self._orders.clear()
            self._transactions.reset()

    def close(self) -> None:
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=5)

    # Transitions (the lock is held).

    def _approve(self, payment: TossPayment) -> None:
        payment.status, payment.approved_at = DONE, now_kst()
        payment.last_transaction_key = new_transaction_key()
        payment.card = card_block(payment.card_choice, payment.amount)
        self._transactions.record(payment, DONE, payment.amount, payment.last_transaction_key, payment.approved_at)
        self._notify(payment)

    def _issue_account(self, payment: TossPayment) -> None:
        due = now_kst() + timedelta(days=VIRTUAL_ACCOUNT_VALID_DAYS)
        payment.status, payment.secret = WAITING, new_secret()
        payment.last_transaction_key = new_transaction_key()
        payment.virtual_account = virtual_account_block(payment.customer_key or "고객", kst_naive_seconds(due))
        self._transactions.record(payment, WAITING, 0, payment.last_transaction_key, now_kst())
        self._notify(payment)

    def _abort(self, payment: TossPayment, code: str) -> None:
        payment.status = ABORTED
        payment.failure = {"code": code, "message": message_for(code)}
        self._notify(payment)

    def _expire(self, payment: TossPayment) -> None:
        payment.status = EXPIRED
        payment.failure = {"code": "EXPIRED_PAYMENT", "message": message_for("EXPIRED_PAYMENT")}
        self._notify(payment)

    def _cancel(self, payment: TossPayment, reason: str, amount: int) -> None:
        key = new_transaction_key()
        payment.balance -= amount
        payment.cancels.append(
            {
                "transactionKey": key, "cancelReason": reason, "taxExemptionAmount": 0,
                "canceledAt": kst_iso(now_kst()), "transferDiscountAmount": 0,
                "easyPayDiscountAmount": 0, "cardDiscountAmount": 0, "receiptKey": None, "cancelAmount": amount,
                "taxFreeAmount": 0, "refundableAmount": payment.balance, "cancelStatus": "DONE",
                "cancelRequestId": None,
            }
        )  # fmt: skip
        payment.last_transaction_key = key
        payment.status = CANCELED if payment.balance == 0 else PARTIAL_CANCELED
        self._transactions.record(payment, payment.status, amount, key, now_kst())
        if payment.card is not None and payment.balance == 0:
            payment.card["acquireStatus"] = "CANCELED"
        self._notify(payment)

    def _refund_to(self, payment: TossPayment, account: dict[str, str]) -> None:
        """The deposit goes back by bank transfer; the sandbox's transfer completes at once (Toss's: PENDING first)."""
        if payment.virtual_account is not None:
            payment.virtual_account["refundReceiveAccount"] = account
            payment.virtual_account["refundStatus"] = "COMPLETED"

    def _refresh(self, payment: TossPayment) -> None:
        """An authenticated payment not confirmed within the window expires."""
        if payment.status == IN_PROGRESS and time.monotonic() - payment.authenticated_at > self._window:
            self._expire(payment)

    def _notify(self, payment: TossPayment) -> None:
        self._emit(payment, events.STATUS_CHANGED, events.status_changed(payment))
        if payment.is_virtual_account:
            self._emit(payment, events.DEPOSIT_CALLBACK, events.deposit_callback(payment))

    def _emit(self, payment: TossPayment, event_type: str, body: dict[str, Any]) -> str:
        transmission_id = events.new_transmission_id()
        self._webhooks.emit(event_type, payment.order_id, body, transmission_id)
        return transmission_id

    # Lookups (the lock is held).

    def _get(self, payment_key: str) -> TossPayment:
        payment = self._payments.get(payment_key)
        if payment is None:
            raise TossError("NOT_FOUND_PAYMENT")
        self._refresh(payment)
        return payment

    def _attempts(self, order_id: str) -> list[TossPayment]:
        attempts = [self._payments[key] for key in self._orders.get(order_id, [])]
        for payment in attempts:
            self._refresh(payment)
        return attempts

    def _current(self, order_id: str) -> TossPayment | None:
        """The attempt that matters: the settled one (done, cancelled, waiting) if any, else the newest."""
        attempts = self._attempts(order_id)
        settled = [p for p in attempts if p.status in SETTLED]
        return (settled or attempts or [None])[-1]

    def _current_or_fail(self, order_id: str) -> TossPayment:
        payment = self._current(order_id)
        if payment is None:
            raise TossError("NOT_FOUND_PAYMENT")
        return payment

    def _start_sweeper(self) -> None:
        with self._lock:
            if self._sweeper is not None:
                return
            self._sweeper = threading.Thread(target=self._sweep, name="toss-expiry", daemon=True)
            self._sweeper.start()

    def _sweep(self) -> None:
        interval = min(1.0, max(0.05, self._window / 10))
        while not self._stop.wait(interval):
            self.expire_due()
