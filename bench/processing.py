"""Webhook processing against its floor (issue 10): stored events drained into payment changes.

    .venv/bin/python -m bench.processing [--events 2000] [--processes 1 2]

Production mode on PostgreSQL and Redis (127.0.0.1), in a database of its own and under a Redis
key prefix of its own, both removed at the end. The gateway sandbox runs at zero latency with its
own keys and its webhooks paused. For each run, N Stripe intents are created and paid in the
sandbox, N PENDING payments naming them and N `payment_intent.succeeded` events are stored in the
inbox, and one task per event is queued. Then a real worker (`celery -A tasks worker -Q
<queue>.webhooks`, the webhook-processing queue of SPEC §6, prefork with 1 then 2 processes)
drains them: each event becomes a PAID payment with its ledger row and its outbox rows. The
rate is the events over the span of their `processed_at` (the worker's start-up is not timed).
The floor (bench/processing_floor.py) drains its own N events in a plain loop in this process.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import requests
from psycopg2.extras import execute_values

from bench import stack
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


def drained(database_url: str, ids: list[int], timeout: float) -> tuple[float, int]:
    """Wait until none of the events is open; (seconds from the first processed to the last, failed)."""
    deadline = time.monotonic() + timeout
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
                if open_ == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
    conn.close()
    if open_:
        raise RuntimeError(f"{open_} events still open after {timeout}s")
    # The span covers N-1 intervals between the first event's end and the last's.
    events = len(ids)
    return float(span or 0) * events / max(events - 1, 1), int(not_processed)


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


def run(events: int, process_counts: list[int]) -> dict[str, Any]:
    print(f"webhook processing: {stack.machine()}; {events} events per run")
    results: list[Result] = []
    memory: dict[str, list[float]] = {}
    with stack.run_resources("drain") as (procs, url, prefix), tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        sandbox_port = stack.free_port()
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        nowhere = f"http://127.0.0.1:{stack.free_port()}"
        sandbox_env = {
            "CHATJU_ENV": "production",  # no .env read
            "SANDBOX_PORT": str(sandbox_port),
            "SANDBOX_STRIPE_WEBHOOK_URL": f"{nowhere}/payment/stripe/webhook",
            "SANDBOX_TOSS_WEBHOOK_URL": f"{nowhere}/payment/toss/webhook",
            **stack.KEYS,
        }
        sandbox = stack.Process("sandbox", [sys.executable, "-m", "sandbox"], sandbox_env, tmp)
        procs.callback(sandbox.stop)
        sandbox.start(f"{sandbox_url}/_control/health")
        requests.post(f"{sandbox_url}/_control/webhooks", json={"gateway": "stripe", "paused": True}, timeout=10)
        requests.delete(f"{sandbox_url}/_control/faults", timeout=10)  # zero latency, no faults
        env = stack.production_env(
            url, prefix, tmp / "instance", STRIPE_API_BASE=f"{sandbox_url}/stripe", TOSS_API_BASE=f"{sandbox_url}/toss"
        )
        queue = env["CELERY_QUEUE"]

        started = time.monotonic()
        ids = store(url, paid_intents(sandbox_url, events))
        print(f"  stored {events} events for the floor in {time.monotonic() - started:.1f}s")
        floor = Floor(url, f"{sandbox_url}/stripe", stack.KEYS["STRIPE_SECRET_KEY"], stack.REDIS_URL, prefix + "floor")
        try:
            for event_id in ids[:20]:  # warm-up: connections and caches
                floor.process(event_id)
            started = time.monotonic()
            outcomes = [floor.process(event_id) for event_id in ids[20:]]
            seconds = time.monotonic() - started
        finally:
            floor.close()
        results.append(Result("floor (bench/processing_floor.py)", 1, len(outcomes), seconds, 0))
        report(results[-1], results[0])

        for count in process_counts:
            ids = store(url, paid_intents(sandbox_url, events))
            subprocess_env = {**env, "PYTHONPATH": str(stack.ROOT)}
            subprocess.run(  # noqa: S603 (the tasks wait in Redis before the worker starts
                [sys.executable, "-m", "bench.processing", "--enqueue", str(ids[0]), str(ids[-1])],
                cwd=stack.ROOT,
                env={**os.environ, **subprocess_env},
                check=True,
            )
            command = [
                sys.executable, "-m", "celery", "-A", "tasks", "worker", "--pool", "prefork",
                "--concurrency", str(count), "-Q", f"{queue}.webhooks", "--without-heartbeat",
                "--without-gossip", "--without-mingle", "--loglevel", "WARNING",
            ]  # fmt: skip
            worker = stack.Process(f"worker-{count}", command, env, tmp)
            procs.callback(worker.stop)
            worker.start()
            seconds, failed = drained(url, ids, timeout=300)
            memory[f"Celery worker process ({count} of {count})"] = worker.worker_rss_mb()
            worker.stop()
            label = f"celery -A tasks worker, {count} process{'es' if count > 1 else ''}"
            results.append(Result(label, count, len(ids), seconds, failed))
            report(results[-1], results[0])
            if paid(url, ids) != len(ids) - failed:
                print(f"  only {paid(url, ids)} of {len(ids)} payments are PAID:\n{worker.log()[-2000:]}")
            if worker.log().count("Traceback"):
                print(f"  the worker logged errors:\n{worker.log()[-2000:]}")
        print(f"  resident memory after the runs (MB): {memory}")
    return {"results": results, "memory": memory}


def report(result: Result, floor: Result) -> None:
    per_process = result.rate / result.processes
    print(
        f"  {result.label:<40} {result.rate:7.1f} events/s   {per_process:7.1f} per process   "
        f"{per_process / floor.rate:.2f}x the floor per process   not processed {result.failed}"
    )


def table(outcome: dict[str, Any]) -> str:
    results: list[Result] = outcome["results"]
    floor = results[0]
    one = next((r for r in results if r.processes == 1 and r is not floor), None)
    rows = [
        "| drain | processes | events | events/s | per process | per process vs floor | vs 1 process |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        per_process = r.rate / r.processes
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
    parser.add_argument("--enqueue", type=int, nargs=2, metavar=("FIRST", "LAST"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.enqueue:
        enqueue(*args.enqueue)
        return
    outcome = run(args.events, args.processes)
    print()
    print(table(outcome))


if __name__ == "__main__":
    main()
