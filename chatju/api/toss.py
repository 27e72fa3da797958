"""Toss routes: create an order, confirm it after the checkout."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from chatju.api import responses
from chatju.api.docs import documented
from chatju.api.idempotency import IDEMPOTENCY_KEY_HEADER, idempotent
from chatju.api.requests import TossConfirm, TossCreate
from chatju.api.tokens import signed_in, signed_in_user
from chatju.api.unit_of_work import commit_before_waiting
from chatju.api.validation import json_body
from chatju.errors import APIError
from chatju.extensions import limiter
from chatju.gateways import toss
from chatju.gateways.port import Gateway
from chatju.gateways.registry import gateway
from chatju.jobs import EnqueueError
from chatju.payments import confirm
from chatju.payments.schemas import payment_json
from chatju.payments.service import open_order, wait_for
from chatju.settings import current_settings
from chatju.states import PaymentStatus

bp = Blueprint("toss", __name__, url_prefix="/payment/toss")


def _user_id() -> int:
    return signed_in_user().id


def _toss() -> Gateway:
    """Toss's adapter; 404 where Toss is not enabled (chatju.errors)."""
    return gateway(toss.NAME)


@bp.post("/create")
@documented(
    "Create a Toss order (KRW)",
    {201: responses.TossOrder},
    body=TossCreate,
    auth=True,
    tags=("toss",),
    headers={"Idempotency-Key": IDEMPOTENCY_KEY_HEADER},
    errors=(404, 409),
)
@signed_in
@limiter.limit(lambda: current_settings().rate_limit_payment, key_func=lambda: f"user:{_user_id()}")
@idempotent("toss.create", _user_id)
def create() -> tuple[dict[str, Any], int]:
    gateway = _toss()
    body = json_body(TossCreate)
    user = signed_in_user()
    payment = open_order(user.id, gateway, toss.CURRENCY, body.amount, body.orderName, body.productId)
    return {**payment_json(payment), **checkout_fields(user.customer_key)}, 201


def checkout_fields(customer_key: str) -> dict[str, str]:
    """What the browser's Toss widget needs besides the order itself."""
    settings = current_settings()
    return {
        "clientKey": settings.toss_client_key,
        "customerKey": customer_key,
        "successUrl": f"{settings.frontend_url}/toss/success",
        "failUrl": f"{settings.frontend_url}/toss/fail",
    }


@bp.post("/confirm")
@documented(
    "Confirm after Toss's checkout: 200 once final, 202 while running",
    {200: responses.Payment, 202: responses.Payment},
    body=TossConfirm,
    auth=True,
    tags=("toss",),
    errors=(404, 409, 502),
)
@signed_in
@limiter.limit(lambda: current_settings().rate_limit_payment, key_func=lambda: f"user:{_user_id()}")
def confirm_order() -> tuple[dict[str, Any], int]:
    body = json_body(TossConfirm)
    start = confirm.begin_confirm(_toss(), _user_id(), body.orderId, body.paymentKey, body.amount)
    payment_id = start.payment.id
    try:
        commit_before_waiting()  # the task is sent now, after the attempt is on record
    except EnqueueError:
        confirm.confirm_not_sent(payment_id)
        raise
    if start.attempt_key is None:
        return payment_json(start.payment), 202 if start.payment.status == PaymentStatus.PROCESSING else 200
    key = start.attempt_key
    payment = wait_for(payment_id, lambda p: p.attempt_key != key, current_settings().payment_sync_wait_seconds)
    if payment.attempt_key == key or payment.status == PaymentStatus.PROCESSING:
        return payment_json(payment), 202  # still running, or a virtual account awaiting its deposit
    withdrawn = confirm.withdrawal(payment, key) if payment.payment_key != key else None
    if withdrawn is not None:
        raise APIError(withdrawn.status, withdrawn.code, withdrawn.message)
    return payment_json(payment), 200
