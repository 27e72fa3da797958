"""Using what was bought."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify
from flask_jwt_extended import jwt_required

from chatju.api import responses
from chatju.api.docs import documented
from chatju.auth.models import User
from chatju.auth.tokens import signed_in_user
from chatju.errors import APIError
from chatju.extensions import db

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
    """Use one premium reading; a single conditional UPDATE, so two at once never both take the last."""
    left = db.session.execute(
        sa.update(User)
        .where(User.id == signed_in_user().id, User.premium_readings > 0)
        .values(premium_readings=User.premium_readings - 1)
        .returning(User.premium_readings)
    ).scalar_one_or_none()
    if left is None:
        db.session.rollback()
        raise APIError(409, "NO_READINGS_LEFT", "No premium reading is left; buy one first.")
    db.session.commit()
    return jsonify(premiumReadings=left)
