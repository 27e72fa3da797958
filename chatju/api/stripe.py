"""Stripe routes: create an order and its PaymentIntent."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from chatju.api import responses
from chatju.api.docs import documented
from chatju.api.idempotency import IDEMPOTENCY_KEY_HEADER, checkpoint, idempotent
from chatju.api.requests import StripeCreate
from chatju.api.tokens import signed_in, signed_in_user
from chatju.api.validation import json_body
from chatju.extensions import limiter
from chatju.gateways import stripe
from chatju.gateways.registry import gateway
from chatju.payments.schemas import payment_json
from chatju.payments.service import open_order, started, wait_for, with_client_secret
from chatju.settings import current_settings

bp = Blueprint("stripe", __name__, url_prefix="/payment/stripe")


def _user_id() -> int:
    return signed_in_user().id


@bp.post("/create")
@documented(
    "Create a Stripe order and its PaymentIntent: 201 with clientSecret, 202 before the intent exists",
    {201: responses.StripeOrder, 202: responses.Payment},
    body=StripeCreate,
    auth=True,
    tags=("stripe",),
    headers={"Idempotency-Key": IDEMPOTENCY_KEY_HEADER},
    errors=(404, 409),
)
@signed_in
@limiter.limit(lambda: current_settings().rate_limit_payment, key_func=lambda: f"user:{_user_id()}")
@idempotent("stripe.create", _user_id, on_replay=lambda answer: with_client_secret(*answer))
def create() -> tuple[dict[str, Any], int]:
    body = json_body(StripeCreate)
    adapter = gateway(stripe.NAME)  # 404 where Stripe is not enabled (chatju.errors)
    payment = open_order(_user_id(), adapter, body.currency.upper(), body.amount, body.description, body.productId)
    payment_id = payment.id
    checkpoint(payment_json(payment), 202)  # commits: the intent is created by a task from here
    payment = wait_for(payment_id, started, current_settings().payment_sync_wait_seconds)
    if not started(payment):
        return payment_json(payment), 202
    return {**payment_json(payment), "publishableKey": current_settings().stripe_publishable_key}, 201
