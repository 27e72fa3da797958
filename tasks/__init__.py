"""The Celery app: `celery -A tasks worker`, `celery -A tasks beat`."""

from celery import Celery

from tasks.base import AppTask

app = Celery("chatju", task_cls=AppTask)
app.config_from_object("celeryconfig")
app.conf.include = ["tasks.auth"]
app.conf.beat_schedule = {}

celery = app
