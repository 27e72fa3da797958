"""Extensions created once and bound to an app in `create_app`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_cors import CORS
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from chatju.db import Base

db = SQLAlchemy(model_class=Base)
# The base of every model: Flask-SQLAlchemy's subclass of Base, seen as Base by the type checker.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
migrate = Migrate()
jwt = JWTManager()
limiter = Limiter(key_func=get_remote_address)
cors = CORS()
