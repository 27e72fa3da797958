"""Celery's settings for `celery -A tasks worker` and `celery -A tasks beat`.

Derived from the same environment as the web app (chatju.config): the broker and
serialisation are the producer's (chatju.jobs), the rest is the worker's and beat's.
"""

from typing import Any

from celery.schedules import crontab

from chatju.config import Settings, settings_or_exit
from chatju.jobs import TaskNames, producer_config

DRIFT_EXPIRES_SECONDS = 6 * 3600


def celery_settings(settings: Settings) -> dict[str, Any]:
    every = settings.reconcile_interval_seconds
    periods = {TaskNames.RECONCILE: every, TaskNames.EXPIRE: every, TaskNames.REDRIVE: every, TaskNames.PRUNE: 3600}
    hour, minute = settings.drift_report_at.split(":")
    return {
        **producer_config(settings),
        # At-least-once: a task is acknowledged only when it has finished, and
        # redelivered if its worker dies; tasks are written to be idempotent.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "result_expires": 3600,
        "worker_hijack_root_logger": False,
        # Beat's state (CELERY_BEAT_SCHEDULE); the scheduler creates its folder when missing.
        "beat_scheduler": "tasks.beat:Scheduler",
        "beat_schedule_filename": str(settings.celery_beat_schedule),
        # SPEC §6: reconcile, expire and re-drive every RECONCILE_INTERVAL_SECONDS; prune hourly. A run
        # still queued when the next comes is dropped, not stacked. The drift report runs daily at
        # DRIFT_REPORT_AT (UTC) for the day before; one not started within hours is left for the next.
        "beat_schedule": {
            **{
                name.split(".", 1)[1]: {"task": name, "schedule": period, "options": {"expires": period}}
                for name, period in periods.items()
            },
            "drift": {
                "task": TaskNames.DRIFT,
                "schedule": crontab(minute=int(minute), hour=int(hour)),
                "options": {"expires": DRIFT_EXPIRES_SECONDS},
            },
        },
    }


globals().update(celery_settings(settings_or_exit()))
