"""Beat's scheduler: celery's own, creating the folder of its state file when it is missing.

`celery -A tasks beat` must start as written from a fresh checkout (SPEC §1), where
nothing has made the instance folder yet; CELERY_BEAT_SCHEDULE may point anywhere writable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery.beat import PersistentScheduler


class Scheduler(PersistentScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        filename = kwargs.get("schedule_filename")
        if filename:
            Path(filename).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(*args, **kwargs)
