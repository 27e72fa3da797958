"""Celery settings, derived from the same environment as the web app (chatju.config)."""

from chatju.config import settings_or_exit
from chatju.jobs import celery_config

globals().update(celery_config(settings_or_exit()))
