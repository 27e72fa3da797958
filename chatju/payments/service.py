"""Orders: creating them, finding them for their owner, waiting on their outcome."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import sqlalchemy as sa

from chatju.errors import APIError
from chatju.extensions import db
from chatju.observability import metrics
from chatju.payments.models import Payment
from chatju.payments.states import PaymentStatus, Provider
from chatju.products import find_product
from chatju.settings import current_settings

# The smallest charge each currency allows on its gateway (Toss cards: ₩100).
TOSS_MINIMUM_KRW = 100
POLL_SECONDS = 0.1


def new_order_id() -> str:
    """Unguessable and valid for Toss: 28 characters of A-Z a-z 0-9 - _."""
    return "ord_" + secrets.token_urlsafe(18)


def price(
    currency: str, amount: int | None, product_id: str | None, minimum: int, default_max: int | None = None
) -> tuple[int, str | None]:
    """The order's amount (and the product's name) from `productId`, `amount`, or both agreeing."""
    name = None
    if product_id is not None:
        product = find_product(product_id)
        if product is None:
            raise APIError(400, "VALIDATION_ERROR", f"Unknown productId {product_id!r}.")
        if currency not in product.prices:
            raise APIError(400, "VALIDATION_ERROR", f"{product_id} is not sold in {currency}.")
        if amount is not None and amount != product.prices[currency]:
            raise APIError(400, "AMOUNT_MISMATCH", "amount does not match the product's price.")
        amount, name = product.prices[currency], product.name
    if amount is None:
        raise APIError(400, "VALIDATION_ERROR", "Send productId or amount.")
    maximum = current_settings().max_amounts.get(currency, default_max)
    if amount < minimum or (maximum is not None and amount > maximum):
        raise APIError(
            400,
            "AMOUNT_OUT_OF_RANGE",
            f"The amount must be between {minimum} and {maximum} {currency} (minor units).",
            {"min": minimum, "max": maximum},
        )
    return amount, name


def create_order(user_id: int, provider: Provider, amount: int, currency: str, order_name: str) -> Payment:
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


def owned_payment(user_id: int, order_id: str, provider: Provider | None = None, lock: bool = False) -> Payment:
    """The user's own order; another user's, another gateway's or a missing one is the same 404."""
    query = sa.select(Payment).where(Payment.order_id == order_id, Payment.user_id == user_id)
    if provider is not None:
        query = query.where(Payment.provider == provider)
    if lock:
        query = query.with_for_update()
    payment = db.session.execute(query.execution_options(populate_existing=True)).scalar_one_or_none()
    if payment is None:
        raise APIError(404, "NOT_FOUND", "No such order.")
    return payment


def wait_for(payment_id: int, done: Callable[[Payment], bool], seconds: float) -> Payment:
    """Poll the payment until `done(payment)` or time runs out; returns it as it then stands."""
    deadline = time.monotonic() + seconds
    while True:
        db.session.rollback()  # a fresh snapshot each time, and no connection held while sleeping
        payment = db.session.get(Payment, payment_id, populate_existing=True)
        if payment is None:
            raise LookupError(f"payment {payment_id} vanished")
        if done(payment) or time.monotonic() >= deadline:
            return payment
        time.sleep(POLL_SECONDS)
