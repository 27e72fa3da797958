"""Orders: pricing and opening them, finding them for their owner, waiting on their outcome."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from chatju import wakeups
from chatju.exceptions import InvalidRequestError, NotFoundError
from chatju.extensions import db
from chatju.gateways.port import Gateway
from chatju.jobs import TaskNames, enqueue_after_commit
from chatju.observability import metrics
from chatju.payments.catalogue import find_product
from chatju.payments.models import Payment
from chatju.settings import current_settings
from chatju.states import PaymentStatus

DEFAULT_ORDER_NAME = "ChatJu order"


def new_order_id() -> str:
    """Unguessable and valid for every gateway: 28 characters of A-Z a-z 0-9 - _."""
    return "ord_" + secrets.token_urlsafe(18)


def price(gateway: Gateway, currency: str, amount: int | None, product_id: str | None) -> tuple[int, str | None]:
    """The order's amount (and the product's name) from `productId`, `amount`, or both agreeing."""
    name = None
    if product_id is not None:
        product = find_product(product_id)
        if product is None:
            raise InvalidRequestError(f"Unknown productId {product_id!r}.")
        if currency not in product.prices:
            raise InvalidRequestError(f"{product_id} is not sold in {currency}.")
        if amount is not None and amount != product.prices[currency]:
            raise InvalidRequestError("amount does not match the product's price.", code="AMOUNT_MISMATCH")
        amount, name = product.prices[currency], product.name
    if amount is None:
        raise InvalidRequestError("Send productId or amount.")
    minimum = gateway.minimum(currency)
    maximum = current_settings().max_amounts.get(currency, gateway.maximum(currency))
    if amount < minimum or (maximum is not None and amount > maximum):
        raise InvalidRequestError(
            f"The amount must be between {minimum} and {maximum} {currency} (minor units).",
            {"min": minimum, "max": maximum},
            code="AMOUNT_OUT_OF_RANGE",
        )
    return amount, name


def open_order(
    user_id: int, gateway: Gateway, currency: str, amount: int | None, order_name: str | None, product_id: str | None
) -> Payment:
    """Price and store a PENDING order; a gateway that starts payments gets a task once this commits."""
    if currency not in gateway.currencies():
        raise InvalidRequestError(f"currency must be one of {', '.join(sorted(gateway.currencies()))}.")
    amount, product_name = price(gateway, currency, amount, product_id)
    payment = create_order(user_id, gateway.name, amount, currency, order_name or product_name or DEFAULT_ORDER_NAME)
    if gateway.starts_at_gateway:
        enqueue_after_commit(TaskNames.START, (payment.id,), ignore_result=True)  # the route waits on the row
    return payment


def create_order(user_id: int, provider: str, amount: int, currency: str, order_name: str) -> Payment:
    payment = Payment(
        order_id=new_order_id(),
        user_id=user_id,
        provider=provider,
        status=PaymentStatus.PENDING,
        amount=amount,
        currency=currency,
        order_name=order_name,
    )
    db.session.add(payment)
    db.session.flush()
    metrics.count_created(provider)
    return payment


def started(payment: Payment) -> bool:
    """Whether the gateway payment made at the start exists (or the order has moved on without it)."""
    return payment.payment_intent_id is not None or payment.status != PaymentStatus.PENDING


def with_client_secret(body: dict[str, Any], status: int) -> tuple[dict[str, Any], int]:
    """A replayed create answer, with the client secret read from the order while it is unpaid."""
    if "clientSecret" in body and body.get("orderId"):
        payment = db.session.execute(sa.select(Payment).where(Payment.order_id == body["orderId"])).scalar_one_or_none()
        body = {**body, "clientSecret": payment.client_secret if payment is not None else None}
    return body, status


def owned_payment(user_id: int, order_id: str, provider: str | None = None, lock: bool = False) -> Payment:
    """The user's own order; another user's, another gateway's or a missing one is the same 404."""
    query = sa.select(Payment).where(Payment.order_id == order_id, Payment.user_id == user_id)
    if provider is not None:
        query = query.where(Payment.provider == provider)
    if lock:
        query = query.with_for_update()
    payment = db.session.execute(query.execution_options(populate_existing=True)).scalar_one_or_none()
    if payment is None:
        raise NotFoundError("No such order.")
    return payment


def wait_for(payment_id: int, done: Callable[[Payment], bool], seconds: float) -> Payment:
    """Wait until `done(payment)` or time runs out; returns the payment as it then stands.

    Woken by the task's announcement of its commit (chatju.wakeups), so the answer leaves as soon
    as the outcome is in the row; the row, read after subscribing, is what decides.
    """
    deadline = time.monotonic() + seconds
    with wakeups.current().listen(wakeups.payment_topic(payment_id)) as listener:
        while True:
            db.session.rollback()  # a fresh snapshot each time
            payment = db.session.get(Payment, payment_id, populate_existing=True)
            if payment is None:
                raise LookupError(f"payment {payment_id} vanished")
            left = deadline - time.monotonic()
            if done(payment) or left <= 0:
                return payment
            db.session.rollback()  # no connection (nor open transaction) held while waiting
            listener.wait(left)
