"""Every task name the app sends is one the worker runs, former names included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from chatju.jobs import FORMER_TASK_NAMES, TaskNames

ROOT = Path(__file__).resolve().parents[2]
LIST_TASKS = """
import json
from tasks import app
import tasks.auth, tasks.fulfilment, tasks.maintenance, tasks.payments, tasks.webhooks
print(json.dumps({name: task.run.__name__ for name, task in app.tasks.items() if not name.startswith("celery.")}))
"""


def test_the_worker_runs_every_name_and_every_former_name(tmp_path):
    env = {**os.environ, "CHATJU_ENV": "test", "CHATJU_INSTANCE_DIR": str(tmp_path), "REDIS_URL": ""}
    result = subprocess.run(
        [sys.executable, "-c", LIST_TASKS], cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60
    )
    registered = json.loads(result.stdout)
    names = {value for key, value in vars(TaskNames).items() if key.isupper()}
    assert names <= set(registered)
    for former, current in FORMER_TASK_NAMES.items():
        assert registered[former] == registered[current]  # the same work under its old name
