"""Multiprocess metrics: what separate processes count adds up in one scrape."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from chatju.observability import multiprocess

ROOT = Path(__file__).resolve().parents[2]
# One process of the system: it counts into `directory` (from the environment, or configured).
COUNTING = """
import sys
from pathlib import Path
from chatju.observability import multiprocess
multiprocess.configure(Path(sys.argv[1]))
from chatju.observability import metrics
metrics.PAYMENTS_PAID.labels(provider="toss").inc(int(sys.argv[2]))
metrics.GATEWAY_LATENCY.labels(gateway="toss", operation="confirm", outcome="ok").observe(0.2)
metrics.GATEWAY_LAST_SUCCESS.labels(gateway="toss").set(float(sys.argv[2]))
"""


def run_counting_process(directory: Path, paid: int, env_names_directory: bool) -> None:
    env = {name: value for name, value in os.environ.items() if name != multiprocess.ENV}
    if env_names_directory:
        env[multiprocess.ENV] = str(directory)  # as gunicorn's master hands it to its workers
    subprocess.run([sys.executable, "-c", COUNTING, str(directory), str(paid)], cwd=ROOT, env=env, check=True)


def scraped(directory: Path) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(multiprocess.registry(directory)).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_two_processes_counts_add_up(tmp_path):
    run_counting_process(tmp_path, 2, env_names_directory=True)
    run_counting_process(tmp_path, 3, env_names_directory=False)
    assert len(list(tmp_path.glob("counter_*.db"))) == 2
    samples = scraped(tmp_path)
    assert samples[("chatju_payments_paid_total", frozenset({("provider", "toss")}))] == 5
    latency = frozenset({("gateway", "toss"), ("operation", "confirm"), ("outcome", "ok")})
    assert samples[("chatju_gateway_request_duration_seconds_count", latency)] == 2
    assert samples[("chatju_gateway_request_duration_seconds_sum", latency)] == 0.4
    # The last success of any process, not of each: one series, no pid label.
    assert samples[("chatju_gateway_last_success_timestamp_seconds", frozenset({("gateway", "toss")}))] == 3


def test_files_are_cleared_only_when_no_process_still_counts(tmp_path):
    run_counting_process(tmp_path, 1, env_names_directory=True)
    running = tmp_path / f"counter_{multiprocess.process_id()}.db"
    running.write_bytes(b"")
    assert not multiprocess.clear_if_idle(tmp_path)  # this process is alive: nothing goes
    running.unlink()
    other_container = tmp_path / "counter_ns1-7.db"
    other_container.write_bytes(b"")
    assert not multiprocess.clear_if_idle(tmp_path)  # another namespace's process may be running
    other_container.unlink()
    assert multiprocess.clear_if_idle(tmp_path)  # only the exited process's files were left
    assert list(tmp_path.iterdir()) == []


def test_file_names_carry_the_pid_and_its_namespace():
    name = multiprocess.process_id(1234)
    assert name.endswith("-1234") and "_" not in name
    assert multiprocess.process_id() == multiprocess.process_id(os.getpid())
