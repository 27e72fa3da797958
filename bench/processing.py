"""Webhook processing against its floor (issue 10): stored events drained into payment changes.

    .venv/bin/python -m bench.processing [--events 2000] [--processes 1 2] [--profile docs/profiles]

Production mode on PostgreSQL and Redis (127.0.0.1), in a database of its own and under a Redis
key prefix of its own, both removed at the end. The gateway sandbox runs at zero latency with its
own keys and its webhooks paused. For each run, N Stripe intents are created and paid in the
sandbox, N PENDING payments naming them and N `payment_intent.succeeded` events are stored in the
inbox, and one task per event is queued. Then a real worker (`celery -A tasks worker -Q
<queue>.webhooks`, the webhook-processing queue of SPEC §6, prefork with 1 then 2 processes)
drains them: each event becomes a PAID payment with its ledger row and its outbox rows. The
rate is the events over the span of their `processed_at` (the worker's start-up is not timed).
The floor (bench/processing_floor.py) drains its own N events in a plain loop in this process.
With --profile, py-spy records each pool process and the sandbox during the drains
(bench/profile_drain.py); the figures of such a run carry its overhead.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import requests
from psycopg2.extras import execute_values

from bench import profile_drain, stack
from bench.processing_cpu import Meter, drain_groups, floor_groups
from bench.processing_floor import Floor

USER_SQL = "INSERT INTO users (email, customer_key, created_at, updated_at) VALUES (%s, %s, now(), now()) RETURNING id"
PAYMENT_SQL = """
INSERT INTO payments (order_id, user_id, provider, status, amount, currency, order_name, refunded_amount,
                      payment_intent_id, created_at, updated_at)
VALUES %s RETURNING id
"""
EVENT_SQL = """
INSERT INTO webhook_events (provider, event_id, event_type, order_id, body, headers, state, received_at,
                            next_attempt_at)
VALUES %s RETURNING id
"""


@dataclass
class Result:
    label: str
    processes: int
    events: int
    seconds: float
    failed: int
    code: str = ""  # "" for this checkout's worker, else the baseline's commit
    cpu: dict[str, float] = field(default_factory=dict)  # CPU ms per event, by process group

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def paid_intents(sandbox: str, count: int) -> list[tuple[str, str]]:
    """(order id, intent id) of `count` intents created and paid in the sandbox."""
    auth = {"Authorization": f"Bearer {stack.KEYS['STRIPE_SECRET_KEY']}"}

    def one(_: int) -> tuple[str, str]:
        order_id = "ord_" + secrets.token_urlsafe(18)
        created = requests.post(
            f"{sandbox}/stripe/v1/payment_intents",
            data={"amount": 1000, "currency": "usd", "metadata[order_id]": order_id},
            headers=auth,
            timeout=30,
        )
        created.raise_for_status()
        intent_id = created.json()["id"]
        paid = requests.post(f"{sandbox}/_control/stripe/succeed", json={"payment_intent": intent_id}, timeout=30)
        paid.raise_for_status()
        return order_id, intent_id

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def event_body(intent_id: str, order_id: str) -> str:
    return json.dumps(
        {
            "id": "evt_" + secrets.token_hex(12),
            "object": "event",
            "api_version": "2024-06-20",
            "created": int(time.time()),
            "livemode": False,
            "type": "payment_intent.succeeded",
            "data": {
                "object": {
                    "id": intent_id,
                    "object": "payment_intent",
                    "amount": 1000,
                    "currency": "usd",
                    "status": "succeeded",
                    "metadata": {"order_id": order_id},
                }
            },
        },
        separators=(",", ":"),
    )


def store(database_url: str, intents: list[tuple[str, str]]) -> list[int]:
    """N PENDING payments naming paid intents, and an unprocessed event for each; the inbox ids."""
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            USER_SQL,
            (f"bench-{secrets.token_hex(6)}@example.com", "cus_bench_" + secrets.token_hex(8)),
        )
        user_id = cur.fetchone()[0]
        rows = [
            (order_id, user_id, "stripe", "PENDING", 1000, "USD", "프리미엄 리딩", 0, intent_id)
            for order_id, intent_id in intents
        ]
        execute_values(cur, PAYMENT_SQL, rows, template="(%s, %s, %s, %s, %s, %s, %s, %s, %s, now(), now())")
        events = []
        for order_id, intent_id in intents:
            body = event_body(intent_id, order_id)
            event_id = json.loads(body)["id"]
            events.append(("stripe", event_id, "payment_intent.succeeded", order_id, body, "{}", "received"))
        ids = execute_values(cur, EVENT_SQL, events, template="(%s, %s, %s, %s, %s, %s, %s, now(), now())", fetch=True)
    conn.close()
    return sorted(row[0] for row in ids)


def drained(database_url: str, ids: list[int], timeout: float, meter: Meter) -> tuple[float, int, dict[str, float]]:
    """Wait until none of the events is open.

    Returns the seconds from the first processed to the last, how many failed, and the CPU
    milliseconds per event of each process group, from the 20th event on (past start-up).
    """
    deadline = time.monotonic() + timeout
    metered_from = None
    with psycopg2.connect(database_url) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            while True:
                cur.execute(
                    "SELECT count(*) FILTER (WHERE state = 'received'), count(*) FILTER (WHERE state <> 'processed'),"
                    " extract(epoch FROM max(processed_at) - min(processed_at)) FROM webhook_events WHERE id = ANY(%s)",
                    (ids,),
                )
                open_, not_processed, span = cur.fetchone()
                if metered_from is None and len(ids) - open_ >= 20:
                    meter.start()
                    metered_from = open_
                if open_ == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
    conn.close()
    cpu = meter.stop()
    per_event = {name: 1000 * seconds / max(metered_from or 0, 1) for name, seconds in cpu.items()}
    if open_:
        raise RuntimeError(f"{open_} events still open after {timeout}s")
    # The span covers N-1 intervals between the first event's end and the last's.
    events = len(ids)
    return float(span or 0) * events / max(events - 1, 1), int(not_processed), per_event


def paid(database_url: str, ids: list[int]) -> int:
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM payments p JOIN webhook_events e ON e.order_id = p.order_id"
            " WHERE e.id = ANY(%s) AND p.status = 'PAID'",
            (ids,),
        )
        count: int = cur.fetchone()[0]
    conn.close()
    return count


def enqueue(first: int, last: int) -> None:
    """Queue the processing task of each inbox id in [first, last], as the webhook route does (run in the app's env)."""
    from chatju import create_app
    from chatju.jobs import TaskNames, send

    app = create_app()
    with app.app_context():
        for event_id in range(first, last + 1):
            send(TaskNames.PROCESS_WEBHOOK, (event_id,), ignore_result=True)


def sandbox_process(tmp: Path) -> tuple[stack.Process, str]:
    """The gateway sandbox, started: the run's own keys, zero latency, no faults, webhooks paused."""
    port = stack.free_port()
    url = f"http://127.0.0.1:{port}"
    nowhere = f"http://127.0.0.1:{stack.free_port()}"
    env = {
        "CHATJU_ENV": "production",  # no .env read
        "SANDBOX_PORT": str(port),
        "SANDBOX_STRIPE_WEBHOOK_URL": f"{nowhere}/payment/stripe/webhook",
        "SANDBOX_TOSS_WEBHOOK_URL": f"{nowhere}/payment/toss/webhook",
        **stack.KEYS,
    }
    sandbox = stack.Process("sandbox", [sys.executable, "-m", "sandbox"], env, tmp)
    try:
        sandbox.start(f"{url}/_control/health")
        requests.post(f"{url}/_control/webhooks", json={"gateway": "stripe", "paused": True}, timeout=10)
        requests.delete(f"{url}/_control/faults", timeout=10)  # zero latency, no faults
    except BaseException:
        sandbox.stop()
        raise
    return sandbox, url


def run(
    events: int, process_counts: list[int], profile: Path | None = None, baseline: Path | None = None
) -> dict[str, Any]:
    print(f"webhook processing: {stack.machine()}; {events} events per run")
    results: list[Result] = []
    memory: dict[str, list[float]] = {}
    with stack.run_resources("drain") as (procs, url, prefix), tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        sandbox, sandbox_url = sandbox_process(tmp)
        procs.callback(sandbox.stop)
        env = stack.production_env(
            url, prefix, tmp / "instance", STRIPE_API_BASE=f"{sandbox_url}/stripe", TOSS_API_BASE=f"{sandbox_url}/toss"
        )

        started = time.monotonic()
        ids = store(url, paid_intents(sandbox_url, events))
        print(f"  stored {events} events for the floor in {time.monotonic() - started:.1f}s")
        floor = Floor(url, f"{sandbox_url}/stripe", stack.KEYS["STRIPE_SECRET_KEY"], stack.REDIS_URL, prefix + "floor")
        try:
            for event_id in ids[:20]:  # warm-up: connections and caches
                floor.process(event_id)
            meter = Meter(floor_groups(sandbox, url))
            meter.start()
            started = time.monotonic()
            outcomes = [floor.process(event_id) for event_id in ids[20:]]
            seconds = time.monotonic() - started
            cpu = {name: 1000 * used / len(outcomes) for name, used in meter.stop().items()}
        finally:
            floor.close()
        results.append(Result("floor (bench/processing_floor.py)", 1, len(outcomes), seconds, 0, cpu=cpu))
        report(results[-1], results[0])

        for count in process_counts:
            for root in [baseline, stack.ROOT] if baseline else [stack.ROOT]:
                code = "" if root == stack.ROOT else revision(root)
                label = f"celery -A tasks worker, {count} process{'es' if count > 1 else ''}"
                label += f" (baseline {code})" if code else ""
                ids = store(url, paid_intents(sandbox_url, events))
                result, rss = drain(label, count, root, env, ids, tmp, procs, sandbox, None if code else profile)
                result.code = code
                memory[f"{label} ({count} of {count})"] = rss
                results.append(result)
                report(result, results[0])
        print(f"  resident memory after the runs (MB): {memory}")
    return {"results": results, "memory": memory}


def drain(
    label: str,
    count: int,
    root: Path,
    env: dict[str, str],
    ids: list[int],
    tmp: Path,
    procs: ExitStack,
    sandbox: stack.Process,
    profile: Path | None,
) -> tuple[Result, list[float]]:
    """Queue one task per stored event, then time a worker of the code at `root` draining them."""
    url, queue = env["DATABASE_URL"], env["CELERY_QUEUE"]
    subprocess.run(  # noqa: S603 (the tasks wait in Redis before the worker starts)
        [sys.executable, "-m", "bench.processing", "--enqueue", str(ids[0]), str(ids[-1])],
        cwd=stack.ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(stack.ROOT)},
        check=True,
    )
    command = [
        "sh", "-c", 'cd "$0" && exec "$@"', str(root),  # the worker runs the code at root
        sys.executable, "-m", "celery", "-A", "tasks", "worker", "--pool", "prefork",
        "--concurrency", str(count), "-Q", f"{queue}.webhooks", "--without-heartbeat",
        "--without-gossip", "--without-mingle", "--loglevel", "WARNING",
    ]  # fmt: skip
    worker = stack.Process(f"worker-{count}-{len(list(tmp.iterdir()))}", command, env, tmp)
    procs.callback(worker.stop)
    worker.start()
    spies = profile_drain.record(worker, count, sandbox, profile) if profile else []
    try:
        seconds, failed, cpu = drained(url, ids, 300, Meter(drain_groups(worker, sandbox, url)))
    finally:
        for spy in spies:
            spy.stop()
    rss = worker.worker_rss_mb()
    worker.stop()
    if paid(url, ids) != len(ids) - failed:
        print(f"  only {paid(url, ids)} of {len(ids)} payments are PAID:\n{worker.log()[-2000:]}")
    if "Traceback" in worker.log():
        print(f"  the worker logged errors:\n{worker.log()[-2000:]}")
    return Result(label, count, len(ids), seconds, failed, cpu=cpu), rss


def revision(root: Path) -> str:
    """The commit checked out at root, short, for the label of a baseline run."""
    command = ["git", "-C", str(root), "rev-parse", "--short", "HEAD"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    return done.stdout.strip() or str(root)


def report(result: Result, floor: Result) -> None:
    per_process = result.rate / result.processes
    print(
        f"  {result.label:<40} {result.rate:7.1f} events/s   {per_process:7.1f} per process   "
        f"{per_process / floor.rate:.2f}x the floor per process   not processed {result.failed}"
    )
    if result.cpu:
        print("    CPU ms per event: " + ", ".join(f"{name} {ms:.2f}" for name, ms in result.cpu.items()))


def table(outcome: dict[str, Any]) -> str:
    results: list[Result] = outcome["results"]
    floor = results[0]
    ones = {r.code: r for r in results if r.processes == 1 and r is not floor}
    rows = [
        "| drain | processes | events | events/s | per process | per process vs floor | vs 1 process |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        per_process = r.rate / r.processes
        one = ones.get(r.code)
        scaling = f"{r.rate / one.rate:.2f}x" if one and r is not floor else ""
        rows.append(
            f"| {r.label} | {r.processes} | {r.events:,} | {r.rate:,.1f} | {per_process:,.1f} "
            f"| {per_process / floor.rate:.2f}x | {scaling} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000, help="events stored per run (floor, then each worker)")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2], help="worker process counts")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="py-spy flame graphs of each drain into DIR")
    parser.add_argument(
        "--baseline", type=Path, metavar="CHECKOUT", help="also drain with the worker of another checkout, before each"
    )
    parser.add_argument("--enqueue", type=int, nargs=2, metavar=("FIRST", "LAST"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.enqueue:
        enqueue(*args.enqueue)
        return
    outcome = run(args.events, args.processes, args.profile, args.baseline)
    print()
    print(table(outcome))


if __name__ == "__main__":
    main()
