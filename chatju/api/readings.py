"""Using what was bought."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from flask_jwt_extended import jwt_required

from chatju.api import responses
from chatju.api.docs import documented
from chatju.api.tokens import signed_in_user
from chatju.extensions import db
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
@jwt_required()
def consume() -> Response:
    left = consume_reading(signed_in_user().id)
    db.session.commit()
    return jsonify(premiumReadings=left)
