"""`GET /toss/v1/transactions` (거래 조회), through the same pipeline as the rest of the Toss API."""

from __future__ import annotations

from flask import Blueprint, Response, request

from sandbox import pipeline
from sandbox.replies import Reply
from sandbox.toss.api import PROFILE, store
from sandbox.toss.errors import TossError
from sandbox.toss.transactions import limit_of, local_time

bp = Blueprint("toss_listing", __name__)


@bp.get("/v1/transactions")
def transactions() -> Response:
    """https://docs.tosspayments.com/reference#거래-조회: a bare array, oldest first."""

    def execute() -> Reply:
        try:
            start = local_time(request.args.get("startDate"))
            end = local_time(request.args.get("endDate"), end=True)
            if start > end:
                raise TossError("INVALID_DATE")
            after = request.args.get("startingAfter") or None
            return Reply.json(200, store().transactions(start, end, after, limit_of(request.args.get("limit"))))
        except TossError as error:
            return error.reply()

    return pipeline.handle(PROFILE, "transactions", execute)
