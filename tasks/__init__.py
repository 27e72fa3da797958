"""The Celery app: `celery -A tasks worker`, `celery -A tasks beat`."""

import os
from typing import Any

from celery import Celery
from celery.signals import setup_logging

from tasks.base import AppTask

app = Celery("chatju", task_cls=AppTask)
app.config_from_object("celeryconfig")
app.conf.include = ["tasks.auth", "tasks.payments", "tasks.webhooks", "tasks.fulfilment", "tasks.maintenance"]

celery = app


@setup_logging.connect
def _json_logging(**kwargs: Any) -> None:
    """Workers and beat log JSON lines like the web app."""
    from chatju.logs import configure_logging

    configure_logging((os.environ.get("LOG_LEVEL", "").strip() or "INFO").upper())
