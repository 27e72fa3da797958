"""Checkout against its floor (issue 10): create, the sandbox's authorisation, confirm, PAID.

    .venv/bin/python -m bench.checkout [--payments 1000] [--clients 16 32]

Production mode on PostgreSQL and Redis (127.0.0.1), in a database and under a Redis key prefix
of its own, both removed at the end with every process it started. gunicorn with the Dockerfile's
2 workers x 8 threads serves the API; Celery runs as docker-compose runs it, a worker per queue
(gateways, webhooks and effects, 2 processes each); the gateway sandbox runs with the run's own
keys, no latency and no faults, and sends its webhooks to the service, 8 at a time as a gateway
does under load (the sandbox's default is one at a time, in order, for the tests).

Each client is a thread with its own signed-in customer and HTTP connection, paying one order
after another:
- Toss: `POST /payment/toss/create`, the sandbox's checkout (the customer authorises; it answers
  with the redirect to successUrl and its paymentKey), `POST /payment/toss/confirm` until 200 PAID.
- Stripe: `POST /payment/stripe/create` (201 with the clientSecret), the sandbox's payment page
  (the card), then `GET /payment/<orderId>` every 250 ms, as the frontend polls, until PAID.
The floor is the gateway itself at the same concurrency: the same checkout followed by Toss's
`POST /v1/payments/confirm`, and Stripe's `POST /v1/payment_intents` followed by the payment page,
called on the sandbox directly. Each Toss confirm's time is then split, from the rows the service
wrote, into the route's own work before the task is sent, the wait in the queue until the
gateway call begins, the gateway call, the task's work after it, and the route's wake-up (from
the PAID ledger row to the answer reaching the client).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import psycopg2
import requests

from bench import stack

# As docker-compose runs them: gateway calls are waits, so their worker runs threads.
WORKERS = (("gateways", "threads", 16), ("webhooks", "prefork", 2), ("effects", "prefork", 2))
WEB_THREADS = int(os.environ.get("BENCH_WEB_THREADS", "8"))
RETURN_URL = "http://127.0.0.1/demo/stripe/return"
POLL_SECONDS = 0.25
TOSS_AMOUNT = 9900
STRIPE_AMOUNT = 990


@dataclass
class Timings:
    """Per-call latencies (ms) of one run, and its span."""

    calls: dict[str, list[float]] = field(default_factory=dict)
    payments: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    confirms: list[tuple[str, float, float]] = field(default_factory=list)  # (order id, sent, answered), epoch s

    def add(self, name: str, started: float) -> float:
        now = time.perf_counter()
        self.calls.setdefault(name, []).append((now - started) * 1000)
        return now


def percentile(values: list[float], percent: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(percent / 100 * (len(ordered) - 1)))]


class Client:
    """One customer's browser and frontend: a session, a token, the sandbox's pages."""

    def __init__(self, api: str, sandbox: str, token: str | None) -> None:
        self.api, self.sandbox = api, sandbox
        self.http = requests.Session()
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    def toss_checkout(self, order: dict[str, Any]) -> str:
        form = {
            "clientKey": stack.KEYS["TOSS_CLIENT_KEY"],
            "customerKey": order["customerKey"],
            "orderId": order["orderId"],
            "orderName": order["orderName"],
            "amount": str(order["amount"]),
            "successUrl": order["successUrl"],
            "failUrl": order["failUrl"],
            "card": "success",
        }
        answer = self.http.post(f"{self.sandbox}/toss/checkout", data=form, allow_redirects=False, timeout=30)
        if answer.status_code != 303:
            raise RuntimeError(f"checkout {answer.status_code}: {answer.text[:200]}")
        return dict(parse_qsl(urlsplit(answer.headers["Location"]).query))["paymentKey"]

    def stripe_page(self, client_secret: str) -> None:
        form = {
            "client_secret": client_secret,
            "return_url": RETURN_URL,
            "key": stack.KEYS["STRIPE_PUBLISHABLE_KEY"],
            "card_number": "4242424242424242",
        }
        answer = self.http.post(f"{self.sandbox}/stripe/pay", data=form, allow_redirects=False, timeout=30)
        if answer.status_code != 303:
            raise RuntimeError(f"stripe pay {answer.status_code}: {answer.text[:200]}")

    # Through the service.

    def toss(self, timings: Timings) -> None:
        started = time.perf_counter()
        created = self.http.post(f"{self.api}/payment/toss/create", json={"amount": TOSS_AMOUNT}, timeout=30)
        started = timings.add("POST /payment/toss/create", started)
        if created.status_code != 201:
            raise RuntimeError(f"create {created.status_code}: {created.text[:200]}")
        order = created.json()
        payment_key = self.toss_checkout(order)
        started = timings.add("sandbox checkout (the customer)", started)
        body = {"paymentKey": payment_key, "orderId": order["orderId"], "amount": order["amount"]}
        sent = time.time()
        while True:
            confirmed = self.http.post(f"{self.api}/payment/toss/confirm", json=body, timeout=60)
            if confirmed.status_code != 202:
                break
        answered = time.time()
        timings.add("POST /payment/toss/confirm", started)
        if confirmed.status_code != 200 or confirmed.json()["status"] != "PAID":
            raise RuntimeError(f"confirm {confirmed.status_code}: {confirmed.text[:200]}")
        timings.confirms.append((order["orderId"], sent, answered))

    def stripe(self, timings: Timings) -> None:
        started = time.perf_counter()
        body = {"amount": STRIPE_AMOUNT, "currency": "USD"}
        created = self.http.post(f"{self.api}/payment/stripe/create", json=body, timeout=30)
        paid_from = timings.add("POST /payment/stripe/create", started)
        if created.status_code != 201:
            raise RuntimeError(f"create {created.status_code}: {created.text[:200]}")
        order = created.json()
        self.stripe_page(order["clientSecret"])
        started = timings.add("sandbox payment page (the customer)", paid_from)
        while True:
            seen = self.http.get(f"{self.api}/payment/{order['orderId']}", timeout=30)
            if seen.status_code == 200 and seen.json()["status"] == "PAID":
                break
            if time.perf_counter() - started > 60:
                raise RuntimeError(f"not PAID after 60 s: {seen.text[:200]}")
            time.sleep(POLL_SECONDS)
        timings.add("page paid → GET /payment/<orderId> says PAID", started)

    # The floor: the gateway itself.

    def toss_floor(self, timings: Timings) -> None:
        order_id = "ord_" + os.urandom(12).hex()
        order = {
            "customerKey": "cust_" + os.urandom(8).hex(),
            "orderId": order_id,
            "orderName": "프리미엄 리딩",
            "amount": TOSS_AMOUNT,
            "successUrl": "http://127.0.0.1/demo/toss/success",
            "failUrl": "http://127.0.0.1/demo/toss/fail",
        }
        payment_key = self.toss_checkout(order)
        started = time.perf_counter()
        token = base64.b64encode(f"{stack.KEYS['TOSS_SECRET_KEY']}:".encode()).decode()
        answer = self.http.post(
            f"{self.sandbox}/toss/v1/payments/confirm",
            json={"paymentKey": payment_key, "orderId": order_id, "amount": TOSS_AMOUNT},
            headers={"Authorization": f"Basic {token}", "Idempotency-Key": payment_key},
            timeout=30,
        )
        timings.add("Toss POST /v1/payments/confirm", started)
        if answer.status_code != 200 or answer.json()["status"] != "DONE":
            raise RuntimeError(f"toss confirm {answer.status_code}: {answer.text[:200]}")

    def stripe_floor(self, timings: Timings) -> None:
        started = time.perf_counter()
        answer = self.http.post(
            f"{self.sandbox}/stripe/v1/payment_intents",
            data={"amount": STRIPE_AMOUNT, "currency": "usd", "metadata[order_id]": "ord_" + os.urandom(12).hex()},
            headers={
                "Authorization": f"Bearer {stack.KEYS['STRIPE_SECRET_KEY']}",
                "Idempotency-Key": os.urandom(8).hex(),
            },
            timeout=30,
        )
        timings.add("Stripe POST /v1/payment_intents", started)
        if answer.status_code != 200:
            raise RuntimeError(f"stripe create {answer.status_code}: {answer.text[:200]}")
        self.stripe_page(answer.json()["client_secret"])


def drive(clients: list[Client], flow: Callable[[Client, Timings], None], payments: int) -> Timings:
    """Each client pays one order after another until `payments` have been paid in all."""
    timings = Timings()
    left = iter(range(payments))
    lock = threading.Lock()

    def one_client(client: Client) -> None:
        while True:
            with lock:
                if next(left, None) is None:
                    return
            try:
                flow(client, timings)
                with lock:
                    timings.payments += 1
            except Exception as exc:  # a failed payment is counted and reported, the run goes on
                with lock:
                    timings.failures.append(f"{type(exc).__name__}: {exc}"[:300])

    started = time.perf_counter()
    with ThreadPoolExecutor(len(clients)) as pool:
        list(pool.map(one_client, clients))
    timings.seconds = time.perf_counter() - started
    return timings


def tokens(count: int) -> list[str]:
    """Access tokens of `count` new customers (run in the service's environment)."""
    from chatju import create_app
    from chatju.api import tokens
    from chatju.auth import service
    from chatju.extensions import db

    app = create_app()
    with app.app_context():
        users = [service.get_or_create_user(f"bench-{n}-{os.urandom(4).hex()}@example.com") for n in range(count)]
        db.session.commit()
        return [tokens.access_token_for(user) for user in users]


def breakdown(database_url: str, confirms: list[tuple[str, float, float]]) -> dict[str, list[float]]:
    """Each confirm's time (ms), split by the rows the service wrote (one clock: this machine's)."""
    parts: dict[str, list[float]] = {}
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            """
            SELECT p.order_id,
                   (SELECT min(e.created_at) FROM payment_events e
                     WHERE e.payment_id = p.id AND e.to_status = 'PROCESSING'),
                   g.created_at, g.duration_ms,
                   (SELECT min(e.created_at) FROM payment_events e
                     WHERE e.payment_id = p.id AND e.to_status = 'PAID')
              FROM payments p
              JOIN gateway_calls g ON g.order_id = p.order_id AND g.operation = 'confirm'
             WHERE p.order_id = ANY(%s)
            """,
            ([order_id for order_id, _, _ in confirms],),
        )
        rows = {row[0]: row[1:] for row in cur.fetchall()}
    conn.close()

    def epoch(moment: datetime) -> float:
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()

    for order_id, sent, answered in confirms:
        found = rows.get(order_id)
        if not found or None in found:
            continue
        processing, call_end, duration_ms, paid = found
        call_end_s, processing_s, paid_s = epoch(call_end), epoch(processing), epoch(paid)
        call_start_s = call_end_s - duration_ms / 1000
        for name, seconds in (
            ("route, before the task is sent", processing_s - sent),
            ("queue wait, to the gateway call", call_start_s - processing_s),
            ("gateway call (the task's)", duration_ms / 1000),
            ("task, after the call to PAID", paid_s - call_end_s),
            ("route's wake-up, PAID to the answer", answered - paid_s),
        ):
            parts.setdefault(name, []).append(seconds * 1000)
    return parts


def worker(queue: str, pool: str, concurrency: int, env: dict[str, str], tmp: Path) -> stack.Process:
    command = [
        sys.executable, "-m", "celery", "-A", "tasks", "worker", "--pool", pool, "--concurrency",
        str(concurrency), "-Q", queue, "--without-heartbeat", "--without-gossip", "--without-mingle",
        "--loglevel", "WARNING", "-n", f"{queue}@%h",
    ]  # fmt: skip
    return stack.Process(f"worker-{queue}", command, env, tmp)


def run(payments: int, client_counts: list[int]) -> dict[str, Any]:
    print(f"checkout: {stack.machine()}; {payments} payments per gateway and client count")
    rows: list[dict[str, Any]] = []
    parts_by_clients: dict[int, dict[str, list[float]]] = {}
    memory: dict[str, list[float]] = {}
    with stack.run_resources("checkout") as (procs, url, prefix), tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        app_port, sandbox_port = stack.free_port(), stack.free_port()
        api, sandbox_url = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{sandbox_port}"
        sandbox_env = {
            "CHATJU_ENV": "production",  # no .env read
            "SANDBOX_PORT": str(sandbox_port),
            "SANDBOX_STRIPE_WEBHOOK_URL": f"{api}/payment/stripe/webhook",
            "SANDBOX_TOSS_WEBHOOK_URL": f"{api}/payment/toss/webhook",
            **stack.KEYS,
        }
        sandbox = stack.Process("sandbox", [sys.executable, "-m", "sandbox"], sandbox_env, tmp)
        procs.callback(sandbox.stop)
        sandbox.start(f"{sandbox_url}/_control/health")
        requests.delete(f"{sandbox_url}/_control/faults", timeout=10)  # zero latency, no faults
        for gateway in ("toss", "stripe"):  # concurrent deliveries, as the gateways' own under load
            requests.post(f"{sandbox_url}/_control/webhooks", json={"gateway": gateway, "senders": 8}, timeout=10)
        env = stack.production_env(
            url,
            prefix,
            tmp / "instance",
            STRIPE_API_BASE=f"{sandbox_url}/stripe",
            TOSS_API_BASE=f"{sandbox_url}/toss",
            FRONTEND_URL="http://127.0.0.1/demo",
            PAYMENT_SYNC_WAIT_SECONDS="10",
        )
        queue = env["CELERY_QUEUE"]
        web = stack.gunicorn("web", "wsgi:app", env, tmp, app_port, threads=WEB_THREADS)
        procs.callback(web.stop)
        web.start(f"{api}/healthz")
        workers = [worker(f"{queue}.{kind}", pool, concurrency, env, tmp) for kind, pool, concurrency in WORKERS]
        for process in workers:
            procs.callback(process.stop)
            process.start()
        made = subprocess.run(  # noqa: S603 (our own interpreter and module)
            [sys.executable, "-m", "bench.checkout", "--tokens", str(max(client_counts))],
            cwd=stack.ROOT,
            env={**os.environ, **env},
            check=True,
            capture_output=True,
            text=True,
        )
        access = json.loads(made.stdout.strip().splitlines()[-1])
        drive([Client(api, sandbox_url, access[0])], Client.toss, 20)  # warm-up: workers, pools, caches
        drive([Client(api, sandbox_url, access[0])], Client.stripe, 20)

        for count in client_counts:
            for label, flow, via_service in (
                ("floor: Toss's confirm on the sandbox", Client.toss_floor, False),
                ("Toss through the service", Client.toss, True),
                ("floor: Stripe's intent create on the sandbox", Client.stripe_floor, False),
                ("Stripe through the service", Client.stripe, True),
            ):
                clients = [Client(api, sandbox_url, access[n] if via_service else None) for n in range(count)]
                timings = drive(clients, flow, payments)
                rows.append({"label": label, "clients": count, "timings": timings})
                report(label, count, timings)
                if timings.confirms:
                    parts_by_clients[count] = breakdown(url, timings.confirms)
                    for name, values in parts_by_clients[count].items():
                        print(f"      {name:<48} {spread(values)}")
        memory = {"gunicorn worker": web.worker_rss_mb()}
        for process in workers:
            memory[f"Celery {process.name.removeprefix('worker-')} process"] = process.worker_rss_mb()
        print(f"  resident memory after the runs (MB): { {k: [round(v, 1) for v in vs] for k, vs in memory.items()} }")
        for process in (web, *workers):
            if "Traceback" in process.log():
                print(f"  {process.name} logged errors:\n{process.log()[-2000:]}")
    return {"rows": rows, "parts": parts_by_clients, "memory": memory}


def spread(values: list[float]) -> str:
    return f"p50 {percentile(values, 50):7.1f} ms   p99 {percentile(values, 99):7.1f} ms"


def report(label: str, clients: int, timings: Timings) -> None:
    rate = timings.payments / timings.seconds
    print(f"  {label} — {clients} clients: {rate:6.1f} payments/s, {timings.payments} paid")
    for name, values in timings.calls.items():
        print(f"      {name:<48} {spread(values)}")
    if timings.failures:
        print(f"      {len(timings.failures)} failed, e.g. {timings.failures[0]}")


def table(outcome: dict[str, Any]) -> str:
    lines = [
        "| run | clients | payments/s | call | p50 | p99 |",
        "|---|---|---|---|---|---|",
    ]
    for row in outcome["rows"]:
        timings: Timings = row["timings"]
        rate = f"{timings.payments / timings.seconds:,.1f}" if timings.seconds else ""
        for n, (name, values) in enumerate(timings.calls.items()):
            lines.append(
                f"| {row['label'] if n == 0 else ''} | {row['clients'] if n == 0 else ''} | {rate if n == 0 else ''} "
                f"| {name} | {percentile(values, 50):,.1f} ms | {percentile(values, 99):,.1f} ms |"
            )
    for clients, parts in outcome["parts"].items():
        lines += ["", f"A Toss confirm's time at {clients} clients:", "", "| part | p50 | p99 |", "|---|---|---|"]
        for name, values in parts.items():
            lines.append(f"| {name} | {percentile(values, 50):,.1f} ms | {percentile(values, 99):,.1f} ms |")
    return "\n".join(lines)


def medians(outcome: dict[str, Any]) -> dict[str, float]:
    """p50 of each call, keyed `clients:call`, for the report's targets."""
    return {
        f"{row['clients']}:{name}": statistics.median(values)
        for row in outcome["rows"]
        for name, values in row["timings"].calls.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=1000, help="payments per gateway and client count")
    parser.add_argument("--clients", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--tokens", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tokens:
        print(json.dumps(tokens(args.tokens)))
        return
    outcome = run(args.payments, args.clients)
    print()
    print(table(outcome))


if __name__ == "__main__":
    main()
