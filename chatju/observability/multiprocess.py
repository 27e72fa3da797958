"""Counting across processes with prometheus-client's multiprocess mode.

Every process that builds the app (gunicorn workers, Celery workers, CLI commands)
writes its counts to its own files in one directory, and `/metrics` adds up every
file at scrape time, so a payment the worker marks PAID shows at the web app's
`/metrics`. The directory is `$PROMETHEUS_MULTIPROC_DIR`, or `<instance dir>/metrics`
when that is unset (`make run`, the tests): every process of one checkout finds the
same place without configuration.

The library names each file after the writing process's pid. Pids are unique only
within one PID namespace, and docker compose runs web, worker and beat in separate
containers sharing the instance volume, so here a file is named after the pid *and*
its namespace: two containers' "pid 7" never write the same file.

Files of exited processes stay: their counts are part of the totals, and a counter
that shrank would read as a reset to Prometheus. They are cleared only when no
process of ours is left writing (`clear_if_idle`, run by gunicorn's master at start).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import socket
from pathlib import Path

from prometheus_client import CollectorRegistry, values
from prometheus_client import multiprocess as prometheus_multiprocess

log = logging.getLogger(__name__)
ENV = "PROMETHEUS_MULTIPROC_DIR"
SUBDIRECTORY = "metrics"


def configure(default: Path) -> Path:
    """Count into $PROMETHEUS_MULTIPROC_DIR, else `default`; the first call fixes it for the process."""
    path = _fix_directory(default)
    _install_value_class()
    return path


def _fix_directory(default: Path) -> Path:
    """The environment's directory (empty means unset, as everywhere in .env), else `default`; created."""
    if not os.environ.get(ENV, "").strip():
        os.environ[ENV] = str(default)  # children (gunicorn workers, a test's worker) inherit it
    path = Path(os.environ[ENV])
    path.mkdir(parents=True, exist_ok=True)
    return path


def directory() -> Path:
    return Path(os.environ[ENV])


@functools.cache
def _value_class() -> type:
    # prometheus-client's multiprocess helpers carry no annotations.
    value_class: type = values.MultiProcessValue(process_identifier=process_id)  # type: ignore[no-untyped-call]
    return value_class


def _install_value_class() -> None:
    """File-backed values named by `process_id`, for every metric child created from now on.

    prometheus-client picks its value class when it is first imported, from the
    environment; the default directory is known only once the app's settings are, so
    it is set here instead. Our metrics all have labels: a child (and its value)
    exists only from its first `.labels()`, which is always after this.
    """
    values.ValueClass = _value_class()


def process_id(pid: int | None = None) -> str:
    """The file name's process part: the pid, qualified by its PID namespace."""
    return f"{_namespace()}-{pid or os.getpid()}"


@functools.cache
def _namespace() -> str:
    try:
        return f"ns{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:  # no /proc (macOS): one host, one namespace
        return re.sub(r"[^A-Za-z0-9.]", "-", socket.gethostname()) or "host"


def mark_process_dead(pid: int) -> None:
    """Forget a dead process's live gauges (gunicorn's `child_exit`); its counters stay in the totals."""
    if os.environ.get(ENV):
        prometheus_multiprocess.mark_process_dead(process_id(pid), os.environ[ENV])  # type: ignore[no-untyped-call]


def registry(path: Path | None = None) -> CollectorRegistry:
    """A registry that reads every process's files at collection time."""
    scrape = CollectorRegistry()
    prometheus_multiprocess.MultiProcessCollector(scrape, path=str(path or directory()))  # type: ignore[no-untyped-call]
    return scrape


def prepare_main_process(instance_dir: Path) -> Path:
    """Gunicorn's master, before forking: fix the directory every worker inherits, clear it if idle."""
    path = _fix_directory(instance_dir / SUBDIRECTORY)
    if clear_if_idle(path):
        log.info("metrics directory cleared", extra={"path": str(path)})
    return path


def clear_if_idle(path: Path) -> bool:
    """Remove every metrics file when none belongs to a running process; else remove nothing.

    Removing only some (the dead ones) while a worker keeps counting would shrink the
    totals, which Prometheus reads as a counter reset and turns into a false spike.
    """
    files = list(path.glob("*.db"))
    if any(_maybe_running(file) for file in files):
        return False
    for file in files:
        file.unlink(missing_ok=True)
    return bool(files)


def _maybe_running(file: Path) -> bool:
    namespace, _, pid = file.stem.rpartition("_")[2].rpartition("-")
    if namespace != _namespace() or not pid.isdigit():
        return True  # another container's (or an unknown) file: its process may be running
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True
