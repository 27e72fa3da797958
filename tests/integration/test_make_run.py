"""`make run` from a fresh checkout: it prints where to go once everything answers, and Ctrl-C ends it all.

The checkout is a copy of the tracked files (no instance/), on the embedded default (SQLite, the
embedded broker, the sandbox), with this run's virtualenv linked in so nothing is installed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.integration.test_processes import fresh_checkout
from tests.support.live import free_port

VENV = Path(sys.executable).parent.parent
BLOCK_WITHIN_SECONDS = 60
STOP_WITHIN_SECONDS = 30
# What make used to echo: the commands of `make run` and of what it runs first.
ECHOED = ("honcho --procfile", "flask --app wsgi db upgrade", "chatju.demo.announce", "SANDBOX_TOSS_WEBHOOK_URL=")


class MakeRun:
    def __init__(self, checkout: Path, port: int, sandbox_port: int, sandbox_url: str | None = None) -> None:
        self.checkout, self.port, self.sandbox_port = checkout, port, sandbox_port
        self.log_path = checkout / "make-run.log"
        passed = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
        env = {name: os.environ[name] for name in passed if name in os.environ}
        sandbox_url = sandbox_url or f"http://127.0.0.1:{sandbox_port}"
        env.update({"SANDBOX_PORT": str(sandbox_port), "SANDBOX_URL": sandbox_url})
        with self.log_path.open("wb") as out:
            # A session of its own: Ctrl-C is a SIGINT to the whole foreground group, as a terminal sends it.
            self.process = subprocess.Popen(
                [shutil.which("make") or "/usr/bin/make", "run", f"PORT={port}"],
                cwd=checkout,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, seconds: float) -> float:
        """Seconds from the start until `text` is in the output."""
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            if text in self.output():
                return time.monotonic() - started
            assert self.process.poll() is None, f"make run exited {self.process.returncode}:\n{self.output()}"
            time.sleep(0.2)
        raise AssertionError(f"no {text!r} within {seconds} s:\n{self.output()}")

    def ctrl_c(self) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=STOP_WITHIN_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            raise AssertionError(f"make run ignored Ctrl-C:\n{self.output()}") from None

    def leftovers(self) -> list[str]:
        """Processes still running in the checkout (their working directory), after waiting a little."""
        deadline = time.monotonic() + 10
        while True:
            found = []
            for proc in Path("/proc").iterdir():
                try:
                    if proc.name.isdigit() and (proc / "cwd").resolve() == self.checkout:
                        found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
                except OSError:
                    continue
            if not found or time.monotonic() > deadline:
                return found
            time.sleep(0.5)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    target = fresh_checkout(tmp_path / "checkout").resolve()
    (target / ".venv").symlink_to(VENV)
    # The linked virtualenv is up to date for these requirements: make must not reinstall into it.
    for name in ("requirements.txt", "requirements-dev.txt"):
        os.utime(target / name, (0, 0))
    return target


@pytest.fixture
def make_run(checkout: Path) -> Iterator[MakeRun]:
    run = MakeRun(checkout, free_port(), free_port())
    try:
        yield run
    finally:
        if run.process.poll() is None:
            run.ctrl_c()


@pytest.fixture
def make_run_never_ready(checkout: Path) -> Iterator[MakeRun]:
    """The app is told the sandbox is where nothing answers: the block can never be printed."""
    run = MakeRun(checkout, free_port(), free_port(), sandbox_url=f"http://127.0.0.1:{free_port()}")
    try:
        yield run
    finally:
        if run.process.poll() is None:
            run.ctrl_c()


def block_rows(output: str) -> dict[str, str]:
    block = output.split("ChatJu Payments is up.\n", 1)[1].split("\n\n", 1)[0]
    return {line.split()[0]: line.split()[1] for line in block.splitlines()}


def test_make_run_says_where_to_go_once_everything_answers(make_run, checkout):
    took = make_run.wait_for("ChatJu Payments is up.", BLOCK_WITHIN_SECONDS)
    api = f"http://127.0.0.1:{make_run.port}"
    assert block_rows(make_run.output()) == {
        "Demo": f"{api}/demo/",
        "API": api,
        "Sandbox": f"http://127.0.0.1:{make_run.sandbox_port}",
        "Mail": "instance/mail/*.eml,",
        "Stop": "Ctrl-C",
    }
    print(f"make run printed its block after {took:.1f} s")
    # By then every address in it answers, and the root leads to the demo.
    assert requests.get(f"{api}/readyz", timeout=5).status_code == 200
    assert requests.get(f"{api}/demo/", timeout=5).status_code == 200
    assert requests.get(f"http://127.0.0.1:{make_run.sandbox_port}/_control/health", timeout=5).status_code == 200
    root = requests.get(f"{api}/", timeout=5, allow_redirects=False)
    assert root.status_code == 302 and root.headers["Location"] == "/demo/"

    assert make_run.output().count("ChatJu Payments is up.") == 1
    echoed = [line for line in make_run.output().splitlines() if any(command in line for command in ECHOED)]
    assert echoed == []
    assert make_run.ctrl_c() != 0  # make reports the interrupt
    assert make_run.leftovers() == []


def test_ctrl_c_before_everything_answers_ends_it_all_quietly(make_run_never_ready):
    run = make_run_never_ready
    run.wait_for("web.1 started", BLOCK_WITHIN_SECONDS)
    run.wait_for("Listening at", BLOCK_WITHIN_SECONDS)  # the API answers; the sandbox never will
    run.ctrl_c()
    assert run.leftovers() == []  # the announcer noticed and left with the rest
    output = run.output()
    assert "ChatJu Payments is up." not in output and "no answer from" not in output
    assert "chatju/demo/announce" not in output  # no traceback of ours
