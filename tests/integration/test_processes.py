"""The documented processes start as written, in production mode, from a fresh checkout (SPEC §1).

A copy of the checkout's files (what `git clone` gives: no instance/, no virtualenv) runs
`flask --app wsgi db upgrade`, then `gunicorn wsgi:app`, `celery -A tasks worker` and
`celery -A tasks beat` with a production environment: this run's own PostgreSQL database
and Redis prefix, real-looking keys, gateways pointing at an origin where nothing answers.
The real gunicorn is then tried with what it refuses itself, and with large bodies.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support import services
from tests.support.live import free_port
from tests.support.stripe import signed

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STRIPE_WEBHOOK_SECRET = "whsec_processes_" + secrets.token_hex(12)
START_TIMEOUT_SECONDS = 60
STAYS_UP_SECONDS = 5


def fresh_checkout(target: Path) -> Path:
    """The checkout's files as a clone has them: tracked and new files, nothing ignored (no instance/)."""
    listed = subprocess.run(
        [shutil.which("git") or "/usr/bin/git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, (item.decode() for item in listed)):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    assert not (target / "instance").exists()
    return target


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[tuple[Path, dict[str, str]]]:
    error = services.pg_reachable()
    if error:
        services.unavailable("PostgreSQL", error)
    checkout = fresh_checkout(tmp_path_factory.mktemp("checkout"))
    database = services.create_database("processes")
    nowhere = f"http://127.0.0.1:{free_port()}"
    passed = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    env = {name: os.environ[name] for name in passed if name in os.environ}
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "CHATJU_ENV": "production",
            "DATABASE_URL": database,
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": f"chatju-test:{services.RUN_ID}:processes:",
            "CELERY_QUEUE": f"chatju-test-{services.RUN_ID}-processes",
            "JWT_SECRET_KEY": secrets.token_urlsafe(48),
            "MAIL_URL": f"smtp://{nowhere.removeprefix('http://')}",
            "TOSS_CLIENT_KEY": "test_ck_processes" + secrets.token_hex(8),
            "TOSS_SECRET_KEY": "test_sk_processes" + secrets.token_hex(8),
            "TOSS_API_BASE": nowhere,
            "STRIPE_SECRET_KEY": "sk_test_processes" + secrets.token_hex(8),
            "STRIPE_PUBLISHABLE_KEY": "pk_test_processes" + secrets.token_hex(8),
            "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
            "STRIPE_API_BASE": nowhere,
        }
    )
    try:
        upgrade = subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
            cwd=checkout,
            env=env,
            capture_output=True,
            timeout=120,
        )
        assert upgrade.returncode == 0, upgrade.stderr.decode(errors="replace")
        # The migration may run anywhere (a release step); the processes start from the checkout as cloned.
        shutil.rmtree(checkout / "instance", ignore_errors=True)
        yield checkout, env
    finally:
        services.drop_database(database)


class Process:
    """One documented process, started as written, its output in a file."""

    def __init__(self, command: list[str], checkout: Path, env: dict[str, str], log: Path) -> None:
        self.command, self.log_path = command, log
        with log.open("wb") as out:
            self.process = subprocess.Popen(command, cwd=checkout, env=env, stdout=out, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, ready: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"{self.command} exited {self.process.returncode}:\n{self.log()}"
            if ready in self.log():
                return
            time.sleep(0.2)
        raise AssertionError(f"{self.command} did not log {ready!r}:\n{self.log()}")

    def stays_up(self) -> None:
        time.sleep(STAYS_UP_SECONDS)
        assert self.process.poll() is None, f"{self.command} exited {self.process.returncode}:\n{self.log()}"

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
                raise AssertionError(f"{self.command} ignored SIGTERM:\n{self.log()}") from None
        return self.process.returncode


@pytest.fixture(scope="module")
def gunicorn(production: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`gunicorn wsgi:app` as documented; GUNICORN_CMD_ARGS only moves it off port 8000."""
    checkout, env = production
    port = free_port()
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    web = Process(["gunicorn", "wsgi:app"], checkout, {**env, "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port}"}, log)
    try:
        web.wait_for("Booting worker")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not _answers(f"{url}/healthz"):
            assert time.monotonic() < deadline, web.log()
            assert web.process.poll() is None, web.log()
            time.sleep(0.2)
        yield url
    finally:
        assert web.stop() == 0, web.log()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def test_web_worker_and_beat_start_as_documented_and_stop_cleanly(production, request, tmp_path):
    checkout, env = production
    assert not (checkout / "instance").exists()  # beat first: nothing has made the folder yet
    beat = Process(["celery", "-A", "tasks", "beat"], checkout, env, tmp_path / "beat.log")
    worker = Process(["celery", "-A", "tasks", "worker"], checkout, env, tmp_path / "worker.log")
    try:
        beat.wait_for("beat: Starting...")
        worker.wait_for(" ready.")
        web = request.getfixturevalue("gunicorn")
        assert requests.get(f"{web}/healthz", timeout=5).json() == {"status": "ok"}
        assert requests.get(f"{web}/readyz", timeout=5).json()["status"] == "ok"
        beat.stays_up()
        worker.stays_up()
        assert list((checkout / "instance").glob("celerybeat-schedule*")), beat.log()
    finally:
        stopped = {"worker": worker.stop(), "beat": beat.stop()}
    assert stopped == {"worker": 0, "beat": 0}, worker.log() + beat.log()
    assert "Traceback" not in worker.log() + beat.log()


def test_beat_creates_the_folder_of_a_configured_schedule_path(production, tmp_path):
    checkout, env = production
    schedule = tmp_path / "state" / "beat" / "schedule"
    beat = Process(
        ["celery", "-A", "tasks", "beat"], checkout, {**env, "CELERY_BEAT_SCHEDULE": str(schedule)}, tmp_path / "b.log"
    )
    try:
        beat.wait_for("beat: Starting...")
        beat.stays_up()
    finally:
        assert beat.stop() == 0, beat.log()
    assert list(schedule.parent.glob("schedule*")), beat.log()


# --- What a real gunicorn does with hostile requests ------------------------------------------


def raw_exchange(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are; read the whole answer (gunicorn closes after a refusal)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def test_a_request_line_gunicorn_refuses_is_answered_in_the_json_error_shape(gunicorn):
    status, headers, body = raw_exchange(gunicorn, b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 414 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"error": {"code": "VALIDATION_ERROR", "message": "The request line is too long."}}


def test_a_header_gunicorn_refuses_is_answered_in_the_json_error_shape(gunicorn):
    status, headers, body = raw_exchange(gunicorn, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n")
    assert status == 400 and headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "VALIDATION_ERROR"


def test_a_long_path_within_gunicorns_limit_reaches_the_app(gunicorn):
    response = requests.get(f"{gunicorn}/payment/{'a' * 6000}", timeout=5)
    assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"


def test_a_body_past_the_limit_gets_a_readable_413_from_gunicorn(gunicorn):
    for attempt in range(5):  # the answer must arrive every time, not by luck of timing
        response = requests.post(
            f"{gunicorn}/auth/magic-link", data=b"x" * 200_000, headers={"Content-Type": "application/json"}, timeout=10
        )
        assert response.status_code == 413, attempt
        assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_a_large_signed_stripe_event_is_accepted_by_gunicorn(gunicorn):
    intent = {"id": "pi_large", "object": "payment_intent", "metadata": {}, "description": "x" * 200_000}
    event = {"id": f"evt_large_{time.time_ns()}", "type": "charge.updated", "created": int(time.time())}
    body, signature = signed({**event, "data": {"object": intent}}, secret=STRIPE_WEBHOOK_SECRET)
    response = requests.post(
        f"{gunicorn}/payment/stripe/webhook",
        data=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": signature},
        timeout=10,
    )
    assert response.status_code == 200, response.text
