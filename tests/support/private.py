"""Private PostgreSQL and Redis servers for the outage tests: this run's own, stopped and started at will.

The machine's shared servers (5432, 6379) are never touched: each private server runs from a
temporary directory on a free port of 127.0.0.1, and `close()` stops it and removes the directory.
PostgreSQL refuses to run as root, so as root its commands run as the `postgres` user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2
import redis

from tests.support.live import free_port

PG_BIN = Path(os.environ.get("CHATJU_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "postgres"
READY_TIMEOUT_SECONDS = 30


def missing_binaries() -> str | None:
    """Why the private servers cannot start here, or None."""
    if not (PG_BIN / "initdb").exists():
        return f"PostgreSQL binaries not found in {PG_BIN} (set CHATJU_PG_BIN)"
    if shutil.which("redis-server") is None:
        return "redis-server is not on PATH"
    return None


def _wait(ready: object, what: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if ready():  # type: ignore[operator]
            return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise RuntimeError(f"{what} not ready after {READY_TIMEOUT_SECONDS}s:\n{tail}")


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (initdb, pg_ctl) on a free port, trust authentication, no fsync."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="chatju-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, PG_USER, PG_USER)
            self._as_user = ["runuser", "-u", PG_USER, "--"]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as_user, *command], check=True, capture_output=True, timeout=120)

    def init(self) -> PrivatePostgres:
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", PG_USER, "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        return self.start()

    def start(self) -> PrivatePostgres:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        _wait(self.reachable, "private PostgreSQL", self.log)
        return self

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session at once: to the app, the server is gone."""
        if self.running():
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def reachable(self) -> bool:
        try:
            psycopg2.connect(self.url(), connect_timeout=2).close()
            return True
        except psycopg2.Error:
            return False

    def create_database(self, name: str) -> str:
        conn = psycopg2.connect(self.url(), connect_timeout=3)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.url(name)

    def close(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    """A redis-server of our own on a free port, without persistence: stopping it loses what it held."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="chatju-redis-"))
        self.log = self.root / "redis.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.root), "--logfile", str(self.log),
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(self.reachable, "private Redis", self.log)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.process = None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def reachable(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_connect_timeout=1).ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
