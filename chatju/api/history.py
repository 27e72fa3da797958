"""The signed-in user's payment history: newest first, a keyset page at a time."""

from __future__ import annotations

import re
from typing import Annotated, Any

from flask import Blueprint, request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator

from chatju.api import responses
from chatju.api.docs import documented
from chatju.api.tokens import signed_in, signed_in_user
from chatju.gateways.registry import registered
from chatju.payments.history import decode_cursor, encode_cursor, payment_history
from chatju.payments.schemas import payment_json
from chatju.states import PaymentStatus

bp = Blueprint("history", __name__, url_prefix="/payment/history")

DIGITS = re.compile(r"^[0-9]{1,9}$")


def _plain_integer(value: object) -> object:
    """Only plain digits count as a number here: not "2.0", "1_0", "+5" or " 5"."""
    if isinstance(value, str) and DIGITS.match(value):
        return int(value)
    return value


class HistoryQuery(BaseModel):
    """The query string of GET /payment/history/me; anything else in it is refused."""

    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=100, strict=True), BeforeValidator(_plain_integer)] = 20
    cursor: Annotated[str, StringConstraints(max_length=200)] | None = None
    status: PaymentStatus | None = None
    provider: Annotated[str, StringConstraints(max_length=20)] | None = None

    @field_validator("provider")
    @classmethod
    def _provider_known(cls, value: str | None) -> str | None:
        if value is not None and value not in registered():
            raise ValueError(f"provider must be one of {', '.join(registered())}")
        return value

    @field_validator("cursor")
    @classmethod
    def _cursor_decodes(cls, value: str | None) -> str | None:
        if value is not None:
            decode_cursor(value)
        return value


def query_args(model: type[HistoryQuery]) -> HistoryQuery:
    """The query string as `model`; a repeated parameter arrives as a list and is refused."""
    args = {name: values[0] if len(values) == 1 else values for name, values in request.args.lists()}
    return model.model_validate(args)


@bp.get("/me")
@documented(
    "The signed-in user's payments, newest first, a keyset page at a time",
    {200: responses.PaymentPage},
    query=HistoryQuery,
    auth=True,
    tags=("payments",),
)
@signed_in
def mine() -> dict[str, Any]:
    """`{payments, nextCursor}`: up to `limit` payments, nextCursor null on the last page."""
    query = query_args(HistoryQuery)
    after = decode_cursor(query.cursor) if query.cursor is not None else None
    page = payment_history(signed_in_user().id, query.limit, after, query.status, query.provider)
    return {
        "payments": [payment_json(payment) for payment in page.payments],
        "nextCursor": encode_cursor(page.next_order_id) if page.next_order_id else None,
    }
