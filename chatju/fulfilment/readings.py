"""Using what was bought: one premium reading at a time."""

from __future__ import annotations

import sqlalchemy as sa

from chatju.auth.models import User
from chatju.exceptions import ConflictError
from chatju.extensions import db


def consume_reading(user_id: int) -> int:
    """Use one premium reading; a single conditional UPDATE, so two at once never both take the last."""
    left = db.session.execute(
        sa.update(User)
        .where(User.id == user_id, User.premium_readings > 0)
        .values(premium_readings=User.premium_readings - 1)
        .returning(User.premium_readings)
    ).scalar_one_or_none()
    if left is None:
        raise ConflictError("No premium reading is left; buy one first.", code="NO_READINGS_LEFT")
    return int(left)
