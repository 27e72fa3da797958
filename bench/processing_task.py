"""CPU time of one webhook-processing task, for checkouts compared in one run: each change's own effect.

    .venv/bin/python -m bench.processing_task CHECKOUT [CHECKOUT ...] [--events 300] [--rounds 3]

The drain's rate (bench.processing) swings with the machine's load by more than one change
moves it. This times the task alone: for each checkout in turn, round after round, a fresh
process with that checkout's code calls the `webhooks.process` task directly on N stored
events (Stripe `payment_intent.succeeded`, intents paid in the sandbox), as a pool process
does but without Celery's transport, and reports CPU and wall milliseconds per event after a
warm-up of 20. The minimum over the rounds is what a busy machine disturbs least. Production
mode, a database and Redis prefix of the run's own and the sandbox at zero latency, as in
bench.processing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import stack
from bench.processing import paid_intents, revision, sandbox_process, store

# Run with the checkout as working directory, so its `tasks` and `chatju` are the ones imported.
DRAIN = """
import json, sys, time
from tasks import app
import tasks.webhooks
task = app.tasks["webhooks.process"]
ids = [int(i) for i in sys.argv[1:]]
for i in ids[:20]:
    task(i)
cpu, wall = time.process_time(), time.perf_counter()
for i in ids[20:]:
    task(i)
cpu, wall, n = time.process_time() - cpu, time.perf_counter() - wall, len(ids) - 20
print(json.dumps({"cpu_ms": 1000 * cpu / n, "wall_ms": 1000 * wall / n}))
"""


def drain(checkout: Path, env: dict[str, str], ids: list[int]) -> dict[str, float]:
    done = subprocess.run(  # noqa: S603 (our interpreter, our code)
        [sys.executable, "-c", DRAIN, *map(str, ids)],
        cwd=checkout,
        env={**os.environ, **env, "PYTHONPATH": str(checkout)},
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def run(checkouts: list[Path], events: int, rounds: int) -> dict[Path, list[dict[str, float]]]:
    print(f"one webhook-processing task: {stack.machine()}; {events} events per drain, {rounds} rounds")
    figures: dict[Path, list[dict[str, float]]] = {checkout: [] for checkout in checkouts}
    with stack.run_resources("task") as (procs, url, prefix), tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        sandbox, sandbox_url = sandbox_process(tmp)
        procs.callback(sandbox.stop)
        env = stack.production_env(
            url, prefix, tmp / "instance", STRIPE_API_BASE=f"{sandbox_url}/stripe", TOSS_API_BASE=f"{sandbox_url}/toss"
        )
        for _ in range(rounds):
            for checkout in checkouts:
                figures[checkout].append(drain(checkout, env, store(url, paid_intents(sandbox_url, events))))
                latest = figures[checkout][-1]
                print(
                    f"  {revision(checkout)}: CPU {latest['cpu_ms']:.2f} ms, wall {latest['wall_ms']:.2f} ms per event"
                )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkouts", type=Path, nargs="+", help="working trees to compare (this one is .)")
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    figures = run([path.resolve() for path in args.checkouts], args.events, args.rounds)
    print("\n| commit | CPU ms per event (min) | wall ms per event (min) |\n|---|---|---|")
    for checkout, runs in figures.items():
        cpu, wall = min(r["cpu_ms"] for r in runs), min(r["wall_ms"] for r in runs)
        print(f"| {revision(checkout)} | {cpu:.2f} | {wall:.2f} |")


if __name__ == "__main__":
    main()
