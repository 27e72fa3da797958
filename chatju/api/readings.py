"""Using what was bought."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from chatju.api import responses
from chatju.api.docs import documented
from chatju.api.tokens import signed_in, signed_in_user
from chatju.fulfilment.readings import consume_reading

bp = Blueprint("readings", __name__, url_prefix="/readings")


@bp.post("/consume")
@documented(
    "Use one premium reading (409 NO_READINGS_LEFT when none)",
    {200: responses.Readings},
    auth=True,
    tags=("readings",),
    errors=(409,),
)
@signed_in
def consume() -> Response:
    left = consume_reading(signed_in_user().id)
    return jsonify(premiumReadings=left)
