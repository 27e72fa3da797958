"""Routes common to both gateways."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask_jwt_extended import jwt_required

from chatju.auth.tokens import signed_in_user
from chatju.payments.schemas import payment_json
from chatju.payments.service import owned_payment

bp = Blueprint("payments", __name__, url_prefix="/payment")


@bp.get("/<order_id>")
@jwt_required()
def show(order_id: str) -> dict[str, Any]:
    """The payment, to its owner only: anyone else's order is the same 404 as a missing one."""
    return payment_json(owned_payment(signed_in_user().id, order_id))
