"""The base task: each run gets an app context and one unit of work."""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Task
from flask import Flask

from chatju.logs import request_id_var

log = logging.getLogger(__name__)
_flask_app: Flask | None = None
_flask_app_lock = threading.Lock()  # a threads pool's first tasks start together


def flask_app() -> Flask:
    """The worker's Flask app, created once on first use (never at import time)."""
    global _flask_app
    with _flask_app_lock:
        if _flask_app is None:
            from chatju import create_app

            _flask_app = create_app()
        return _flask_app


class AppTask(Task[Any, Any]):
    """Runs inside an app context; commits when the task returns, rolls back when it raises."""

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from chatju.extensions import db

        app = flask_app()
        with app.app_context():
            token = request_id_var.set(f"task:{self.request.id}")
            try:
                result = super().__call__(*args, **kwargs)
                db.session.commit()
                return result
            except BaseException:
                db.session.rollback()
                raise
            finally:
                request_id_var.reset(token)
