"""Routes common to both gateways: read, cancel and refund an order."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask_jwt_extended import jwt_required

from chatju.api import responses
from chatju.api.docs import documented
from chatju.api.tokens import admin_required, signed_in_user
from chatju.api.validation import json_body
from chatju.jobs import commit_then_enqueue
from chatju.payments import cancel, refunds
from chatju.payments.schemas import RefundRequest, payment_json
from chatju.payments.service import owned_payment

bp = Blueprint("payments", __name__, url_prefix="/payment")


@bp.get("/<order_id>")
@documented("An order, to its owner", {200: responses.Payment}, auth=True, tags=("payments",))
@jwt_required()
def show(order_id: str) -> dict[str, Any]:
    """The payment, to its owner only: anyone else's order is the same 404 as a missing one."""
    return payment_json(owned_payment(signed_in_user().id, order_id))


@bp.post("/<order_id>/cancel")
@documented(
    "Cancel a PENDING order (409 otherwise)", {200: responses.Payment}, auth=True, tags=("payments",), errors=(409,)
)
@jwt_required()
def cancel_order(order_id: str) -> dict[str, Any]:
    payment = cancel.cancel_order(signed_in_user().id, order_id)
    commit_then_enqueue()  # an intent left uncanceled can still only end PAID (a late success)
    return payment_json(payment)


@bp.post("/<order_id>/refund")
@documented(
    "Refund in full or in part (admins)",
    {202: responses.RefundAccepted},
    body=RefundRequest,
    auth=True,
    tags=("payments",),
    errors=(403, 409),
)
@admin_required
def refund(order_id: str) -> tuple[dict[str, Any], int]:
    """Full or partial refund (admins only); the gateway call runs in a task."""
    body = json_body(RefundRequest)
    payment, refund = refunds.request_refund(order_id, body.amount, body.reason, actor=signed_in_user().email)
    answer = {"payment": payment_json(payment, owner=False), "refund": refunds.refund_json(refund)}
    commit_then_enqueue()  # the refund is on record: reconciliation sends it if the broker refused
    return answer, 202
