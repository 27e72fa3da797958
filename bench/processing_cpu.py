"""CPU time per event of each process a drain uses: on 2 cores, what one event costs decides the scaling.

Read from /proc (user + system time) for the worker's main process, its pool processes, the
sandbox, and the PostgreSQL backends connected to the run's database.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import psycopg2

from bench import stack

TICKS = os.sysconf("SC_CLK_TCK")
Pids = Callable[[], list[int]]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process, or 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15 of stat)


def backends(database_url: str) -> Pids:
    """The PostgreSQL server processes serving the run's database (other than the asking one)."""

    def pids() -> list[int]:
        with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            found = [pid for (pid,) in cur.fetchall()]
        conn.close()
        return found

    return pids


def drain_groups(worker: stack.Process, sandbox: stack.Process, database_url: str) -> dict[str, Pids]:
    return {
        "worker pool": lambda: stack.children(worker.pid),
        "worker main": lambda: [worker.pid],
        "sandbox": lambda: [sandbox.pid],
        "PostgreSQL": backends(database_url),
    }


def floor_groups(sandbox: stack.Process, database_url: str) -> dict[str, Pids]:
    return {"floor": lambda: [os.getpid()], "sandbox": lambda: [sandbox.pid], "PostgreSQL": backends(database_url)}


class Meter:
    """CPU of each group of processes between `start` and `stop`."""

    def __init__(self, groups: Mapping[str, Pids]) -> None:
        self.groups = groups
        self.started: dict[str, dict[int, float]] = {}

    def _read(self) -> dict[str, dict[int, float]]:
        return {name: {pid: cpu_seconds(pid) for pid in pids()} for name, pids in self.groups.items()}

    def start(self) -> None:
        self.started = self._read()

    def stop(self) -> dict[str, float]:
        """CPU seconds of each group since `start`."""
        now = self._read()
        return {
            name: sum(cpu - self.started[name].get(pid, 0.0) for pid, cpu in pids.items()) for name, pids in now.items()
        }
