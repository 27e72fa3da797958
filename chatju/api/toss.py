"""Toss routes: create an order, confirm it after the checkout."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask_jwt_extended import jwt_required

from chatju.api import responses
from chatju.api.docs import documented
from chatju.api.idempotency import idempotent
from chatju.auth.tokens import signed_in_user
from chatju.errors import APIError
from chatju.extensions import db, limiter
from chatju.jobs import EnqueueError
from chatju.payments import toss
from chatju.payments.schemas import TossConfirm, TossCreate, payment_json
from chatju.payments.service import wait_for
from chatju.payments.states import PaymentStatus
from chatju.settings import current_settings
from chatju.validation import json_body

bp = Blueprint("toss", __name__, url_prefix="/payment/toss")


def _user_id() -> int:
    return signed_in_user().id


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
    if not current_settings().toss_enabled:
        raise APIError(404, "NOT_FOUND", "Toss payments are not enabled here.")
    body = json_body(TossCreate)
    user = signed_in_user()
    payment = toss.create_toss_order(user.id, body.amount, body.orderName, body.productId)
    return {**payment_json(payment), **toss.checkout_fields(payment, user.customer_key)}, 201


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
def confirm() -> tuple[dict[str, Any], int]:
    body = json_body(TossConfirm)
    start = toss.begin_confirm(_user_id(), body.orderId, body.paymentKey, body.amount)
    payment_id = start.payment.id
    try:
        db.session.commit()  # the task is sent now, after the attempt is on record
    except EnqueueError:
        toss.confirm_not_sent(payment_id)
        raise
    if start.attempt_key is None:
        return payment_json(start.payment), 202 if start.payment.status == PaymentStatus.PROCESSING else 200
    key = start.attempt_key
    payment = wait_for(payment_id, lambda p: p.attempt_key != key, current_settings().payment_sync_wait_seconds)
    if payment.attempt_key == key or payment.status == PaymentStatus.PROCESSING:
        return payment_json(payment), 202  # still running, or a virtual account awaiting its deposit
    withdrawn = toss.withdrawal(payment, key) if payment.payment_key != key else None
    if withdrawn is not None:
        raise APIError(withdrawn.status, withdrawn.code, withdrawn.message)
    return payment_json(payment), 200
