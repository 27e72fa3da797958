"""What the service benchmarks share: a database and Redis keys of their own, the processes, and their memory.

Everything a benchmark starts is stopped, and everything it creates (its database, its Redis keys
under its own prefix) is removed, even when it fails. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

import redis
import requests

from bench.history import DEFAULT_PG, bench_database

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/0"
# Production refuses the sandbox's built-in keys: the benchmarks give the sandbox and the service keys of their own.
RUN = secrets.token_hex(4)
KEYS = {
    "TOSS_CLIENT_KEY": f"test_ck_bench{RUN}",
    "TOSS_SECRET_KEY": f"test_sk_bench{RUN}",
    "STRIPE_SECRET_KEY": f"sk_test_bench{RUN}",
    "STRIPE_PUBLISHABLE_KEY": f"pk_test_bench{RUN}",
    "STRIPE_WEBHOOK_SECRET": f"whsec_bench{RUN}",
}
LIFTED = "10000000 per minute"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mb(pid: int) -> float:
    """Resident memory of one process, in MB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


class Process:
    """A command of ours in its own process group, logging to a file; stopped with its children."""

    def __init__(self, name: str, command: list[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name, self.command, self.env = name, command, dict(env)
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready_url: str | None = None, timeout: float = 60) -> Process:
        log: IO[bytes]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                self.command,
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if ready_url:
            self._wait(ready_url, timeout)
        return self

    def _wait(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None  # noqa: S101
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log()[-3000:]}")
            try:
                if requests.get(url, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout}s:\n{self.log()[-3000:]}")

    @property
    def pid(self) -> int:
        assert self.process is not None  # noqa: S101
        return self.process.pid

    def worker_rss_mb(self) -> list[float]:
        """Resident memory of each child (gunicorn's workers, Celery's pool processes), or of a childless process."""
        return [rss_mb(pid) for pid in children(self.pid)] or [rss_mb(self.pid)]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def production_env(database_url: str, prefix: str, instance: Path, **extra: str) -> dict[str, str]:
    """The service as production runs it, on 127.0.0.1, with the webhook limit lifted for the bench."""
    return {
        "CHATJU_ENV": "production",
        "CHATJU_INSTANCE_DIR": str(instance),
        "JWT_SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": prefix,
        "CELERY_QUEUE": prefix.rstrip(":"),
        "MAIL_URL": "smtp://127.0.0.1:1",
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_WEBHOOK": LIFTED,
        "RATE_LIMIT_PAYMENT": LIFTED,
        "RATE_LIMIT_DEFAULT": LIFTED,
        "RATE_LIMIT_AUTH": LIFTED,
        **KEYS,
        **extra,
    }


def gunicorn(name: str, app: str, env: Mapping[str, str], log_dir: Path, port: int, threads: int = 8) -> Process:
    """gunicorn as the Dockerfile runs it: 2 workers of 8 threads (unless told otherwise)."""
    command = [
        sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
        "--workers", "2", "--threads", str(threads), "--timeout", "60", app,
    ]  # fmt: skip
    return Process(name, command, env, log_dir)


def drop_keys(prefix: str) -> int:
    """Delete every Redis key under the run's prefix (never a flush: the server is shared)."""
    client = redis.Redis.from_url(REDIS_URL)
    dropped = 0
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        dropped += client.delete(key)
    # Celery's kombu bindings and unacked sets are kept under the prefix too; results are.
    client.close()
    return dropped


@contextmanager
def run_resources(label: str) -> Iterator[tuple[ExitStack, str, str]]:
    """(exit stack for processes, a fresh migrated database URL, a Redis prefix), all removed afterwards."""
    server = os.environ.get("TEST_DATABASE_URL") or DEFAULT_PG
    prefix = f"chatju-bench-{label}-{RUN}:"
    try:
        with bench_database(server) as url, ExitStack() as stack:
            migrate(url)
            yield stack, url, prefix
    finally:
        drop_keys(prefix)


def migrate(database_url: str) -> None:
    env = {**os.environ, "CHATJU_ENV": "test", "DATABASE_URL": database_url, "REDIS_URL": "", "LOG_LEVEL": "WARNING"}
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def machine() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    return f"nproc {os.cpu_count()}, {int(mem.split()[1]) // 1024} MB memory, load average {load}"
