"""Routes common to both gateways: read, cancel and refund an order."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from chatju.api import responses
from chatju.api.docs import documented
from chatju.api.requests import RefundRequest
from chatju.api.tokens import admin_required, signed_in, signed_in_user
from chatju.api.unit_of_work import commit_record
from chatju.api.validation import json_body
from chatju.gateways.port import RefundAccount
from chatju.payments import cancel, refunds
from chatju.payments.schemas import payment_json
from chatju.payments.service import owned_payment

bp = Blueprint("payments", __name__, url_prefix="/payment")


@bp.get("/<order_id:order_id>")
@documented("An order, to its owner", {200: responses.Payment}, auth=True, tags=("payments",))
@signed_in
def show(order_id: str) -> dict[str, Any]:
    """The payment, to its owner only: anyone else's order is the same 404 as a missing one."""
    return payment_json(owned_payment(signed_in_user().id, order_id))


@bp.post("/<order_id:order_id>/cancel")
@documented(
    "Cancel a PENDING order (409 otherwise)", {200: responses.Payment}, auth=True, tags=("payments",), errors=(409,)
)
@signed_in
def cancel_order(order_id: str) -> dict[str, Any]:
    payment = cancel.cancel_order(signed_in_user().id, order_id)
    commit_record()  # a gateway payment left uncanceled can still only end PAID (a late success)
    return payment_json(payment)


@bp.post("/<order_id:order_id>/refund")
@documented(
    "Refund in full or in part (admins); a virtual-account payment names the customer's refundReceiveAccount",
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
    account = body.refundReceiveAccount
    payment, refund = refunds.request_refund(
        order_id,
        body.amount,
        body.reason,
        actor=signed_in_user().email,
        account=RefundAccount(account.bank, account.accountNumber, account.holderName) if account else None,
    )
    answer = {"payment": payment_json(payment, owner=False), "refund": refunds.refund_json(refund)}
    commit_record()  # the refund is on record: reconciliation sends it if the broker refused
    return answer, 202
