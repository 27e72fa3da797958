"""Toss routes: create an order, confirm it after the checkout."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask_jwt_extended import jwt_required

from chatju.api import responses
from chatju.api.docs import documented
from chatju.api.idempotency import idempotent
from chatju.api.tokens import signed_in_user
from chatju.api.validation import json_body
from chatju.errors import APIError
from chatju.extensions import db, limiter
from chatju.gateways import toss
from chatju.gateways.port import Gateway
from chatju.gateways.registry import gateway
from chatju.jobs import EnqueueError
from chatju.payments import confirm
from chatju.payments.schemas import TossConfirm, TossCreate, payment_json
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
    headers={"Idempotency-Key": "At most 255 characters; the same key and body replay the first answer for 24 h."},
    errors=(404, 409),
)
@jwt_required()
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
@jwt_required()
@limiter.limit(lambda: current_settings().rate_limit_payment, key_func=lambda: f"user:{_user_id()}")
def confirm_order() -> tuple[dict[str, Any], int]:
    body = json_body(TossConfirm)
    start = confirm.begin_confirm(_toss(), _user_id(), body.orderId, body.paymentKey, body.amount)
    payment_id = start.payment.id
    try:
        db.session.commit()  # the task is sent now, after the attempt is on record
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
