"""py-spy on the processes of a drain: where a worker's pool process and the sandbox spend their time.

Used by `python -m bench.processing --profile DIR`: while the worker drains, py-spy samples each
pool process twice over, on the wall clock (`-wall`: idle samples kept, so time waiting on
PostgreSQL, Redis, the gateway and Celery's main process shows) and on the CPU (`-cpu`), and the
sandbox on the CPU. Each recording gives an SVG flame graph to look at and a file of collapsed
stacks (`.txt`) that `summary` counts: the share of samples in each part of a task.

    .venv/bin/python -m bench.profile_drain DIR/drain-1p-pool1-cpu.txt   # the shares of one recording
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench import stack

# Parts of a pool process's time: a stack belongs to the first part one of whose frames it holds.
PARTS = (
    ("gateway call's audit row (its own transaction)", ("record_call ",)),
    ("gateway call: waiting for the sandbox", ("SocketIO.readinto ",)),
    ("gateway call: Stripe SDK and requests (CPU)", ("StripeApi._call ",)),
    ("tasks sent after the commit (Celery publish)", ("_send_pending ",)),
    ("outbox rows (INSERT ... ON CONFLICT, one per effect)", ("schedule (chatju/payments/outbox.py)",)),
    ("commit: flush (ORM unit of work)", ("Session.flush ",)),
    ("commit: COMMIT", ("SessionTransaction.commit ",)),
    ("other SQL (claim, lookups, locks)", ("Session.execute ", "Session.get ")),
    ("Celery: between tasks (ack, fetch, hand to the pool)", ("Worker.workloop ",)),
)


class Spy:
    """py-spy recording one process until stopped: a flame graph and its collapsed stacks."""

    def __init__(self, pid: int, output: Path, idle: bool) -> None:
        self.outputs = (output.with_suffix(".svg"), output.with_suffix(".txt"))
        self.processes = [self._start(pid, path, idle) for path in self.outputs]

    @staticmethod
    def _start(pid: int, path: Path, idle: bool) -> subprocess.Popen[bytes]:
        form = "flamegraph" if path.suffix == ".svg" else "raw"
        py_spy = str(Path(sys.executable).parent / "py-spy")
        command = [py_spy, "record", "--pid", str(pid), "--rate", "100", "--nolineno", "--nonblocking"]
        command += ["--format", form, "-o", str(path), *(["--idle"] if idle else [])]
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for process in self.processes:
            process.wait(timeout=60)


def pool_pids(worker: stack.Process, count: int, timeout: float = 60) -> list[int]:
    """The worker's pool processes, once all `count` are forked."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = stack.children(worker.pid)
        if len(pids) >= count:
            return pids
        time.sleep(0.1)
    raise RuntimeError(f"the worker has not forked {count} pool processes")


def record(worker: stack.Process, count: int, sandbox: stack.Process, directory: Path) -> list[Spy]:
    """Start recording each pool process of `worker` and the sandbox."""
    directory.mkdir(parents=True, exist_ok=True)
    pools = pool_pids(worker, count)
    spies = [
        Spy(pid, directory / f"drain-{count}p-pool{index + 1}-{clock}", idle=clock == "wall")
        for index, pid in enumerate(pools)
        for clock in ("wall", "cpu")
    ]
    return [*spies, Spy(sandbox.pid, directory / f"drain-{count}p-sandbox-cpu", idle=False)]


def part_of(frames: list[str]) -> str:
    for part, markers in PARTS:
        if any(frame.startswith(markers) for frame in frames):
            return part
    return "other (Celery's task protocol, app context, logging, ...)"


def summary(collapsed: Path) -> list[tuple[float, str]]:
    """(share of samples in %, part) of one pool process, largest first."""
    counts: Counter[str] = Counter()
    for line in collapsed.read_text().splitlines():
        stack_text, _, samples = line.rpartition(" ")
        counts[part_of(stack_text.split(";"))] += int(samples)
    total = sum(counts.values()) or 1
    return sorted(((100 * n / total, part) for part, n in counts.items()), reverse=True)


if __name__ == "__main__":
    for path in map(Path, sys.argv[1:]):
        print(path)
        for share, part in summary(path):
            print(f"  {share:5.1f} %  {part}")
