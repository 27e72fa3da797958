"""Webhook acknowledgement against its floor (issue 10).

    .venv/bin/python -m bench.webhooks [--duration 10] [--connections 16 64]

Production mode on PostgreSQL and Redis (127.0.0.1), in a database of its own and under a Redis
key prefix of its own, both removed at the end. gunicorn with the Dockerfile's 2 workers x 8
threads serves `wsgi:app` and, on another port, the floor (bench/floor.py); no Celery worker
runs, so only the acknowledgement is timed; RATE_LIMIT_WEBHOOK is lifted. `wrk` (Debian's
package; installed with apt-get when missing) posts signed Stripe events, each new, and Toss
deliveries, each new, at each connection count; `/healthz` shows the framework's ceiling.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import stack

LUA = Path(__file__).with_name("webhooks.lua")
WRK_THREADS = 2
MAX_RATE = 4000  # requests/s the files are sized for; a file that runs out starts again (repeats)
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class Result:
    label: str
    connections: int
    rps: float
    p50: float
    p99: float
    errors: int
    requests: int


def ensure_wrk() -> str:
    """wrk from Debian's package, installed when missing (the bench says which it used)."""
    found = shutil.which("wrk")
    if found is None:
        print("wrk not found: apt-get install -y wrk")
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, capture_output=True)  # noqa: S607
        found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is needed: apt-get update && apt-get install -y wrk")
    return found


def stripe_line(secret: str, now: int) -> str:
    event_id = "evt_" + secrets.token_hex(12)
    body = json.dumps(
        {
            "id": event_id,
            "object": "event",
            "api_version": "2024-06-20",
            "created": now,
            "livemode": False,
            "type": "payment_intent.succeeded",
            "data": {
                "object": {
                    "id": "pi_" + secrets.token_hex(12),
                    "object": "payment_intent",
                    "amount": 1000,
                    "currency": "usd",
                    "status": "succeeded",
                    "metadata": {"order_id": "ord_" + secrets.token_urlsafe(18)},
                }
            },
        },
        separators=(",", ":"),
    )
    signature = hmac.new(secret.encode(), f"{now}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"/payment/stripe/webhook\tStripe-Signature\tt={now},v1={signature}\t{body}"


def toss_line(now: int) -> str:
    body = json.dumps(
        {
            "eventType": "PAYMENT_STATUS_CHANGED",
            "createdAt": time.strftime("%Y-%m-%dT%H:%M:%S.000000", time.gmtime(now)),
            "data": {"orderId": "ord_" + secrets.token_urlsafe(18), "status": "DONE"},
        },
        separators=(",", ":"),
    )
    return f"/payment/toss/webhook\ttosspayments-webhook-transmission-id\twh_{secrets.token_hex(12)}\t{body}"


def write_requests(base: Path, kind: str, count: int) -> None:
    """Fresh deliveries for one run, signed now (Stripe's tolerance is 300 s), one file per wrk thread."""
    now = int(time.time())
    secret = stack.KEYS["STRIPE_WEBHOOK_SECRET"]
    for thread in range(WRK_THREADS):
        lines = (stripe_line(secret, now) if kind == "stripe" else toss_line(now) for _ in range(count // WRK_THREADS))
        Path(f"{base}.{thread}").write_text("\n".join(lines) + "\n")


def latency_ms(text: str, percent: str) -> float:
    found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    return float(found.group(1)) * UNITS[found.group(2)] if found else float("nan")


def parse(label: str, connections: int, text: str) -> Result:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    errors = int(non2xx.group(1)) if non2xx else 0
    errors += sum(int(n) for n in sockets.groups()) if sockets else 0
    return Result(
        label,
        connections,
        float(rps.group(1)) if rps else 0.0,
        latency_ms(text, "50"),
        latency_ms(text, "99"),
        errors,
        int(total.group(1)) if total else 0,
    )


def wrk(url: str, connections: int, duration: int, requests_file: Path | None) -> str:
    command = [ensure_wrk(), "-t", str(WRK_THREADS), "-c", str(connections), "-d", f"{duration}s", "--latency"]
    env = None
    if requests_file is not None:
        command += ["-s", str(LUA)]
        env = {"BENCH_REQUESTS": str(requests_file), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True, env=env, timeout=duration + 60)  # noqa: S603
    return out.stdout


def measure(label: str, url: str, kind: str | None, connections: int, duration: int, tmp: Path) -> Result:
    requests_file = None
    if kind is not None:
        requests_file = tmp / f"{kind}-{connections}"
        write_requests(requests_file, kind, MAX_RATE * duration)
    wrk(url, connections, 2, requests_file)  # warm-up: connections, caches, the first requests of each thread
    if kind is not None:
        write_requests(requests_file, kind, MAX_RATE * duration)  # still each new
    result = parse(label, connections, wrk(url, connections, duration, requests_file))
    print(
        f"  {label:<34} c={connections:<3} {result.rps:8.0f} req/s   p50 {result.p50:7.2f} ms   "
        f"p99 {result.p99:7.2f} ms   errors {result.errors}"
    )
    return result


def run(duration: int, connection_counts: list[int]) -> dict[str, object]:
    print(f"webhook acknowledgement: {stack.machine()}; wrk {ensure_wrk()}")
    results: list[Result] = []
    memory: dict[str, list[float]] = {}
    with stack.run_resources("ack") as (procs, url, prefix), tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        env = stack.production_env(url, prefix, tmp / "instance")
        app_port, floor_port = stack.free_port(), stack.free_port()
        web = stack.gunicorn("web", "wsgi:app", env, tmp, app_port)
        floor = stack.gunicorn("floor", "bench.floor:app", env, tmp, floor_port)
        procs.callback(web.stop)
        procs.callback(floor.stop)
        web.start(f"http://127.0.0.1:{app_port}/healthz")
        floor.start()
        time.sleep(1)
        service, bottom = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{floor_port}"
        for connections in connection_counts:
            for label, base, kind, path in (
                ("floor (bench/floor.py), Stripe", bottom, "stripe", "/payment/stripe/webhook"),
                ("POST /payment/stripe/webhook", service, "stripe", "/payment/stripe/webhook"),
                ("floor (bench/floor.py), Toss", bottom, "toss", "/payment/toss/webhook"),
                ("POST /payment/toss/webhook", service, "toss", "/payment/toss/webhook"),
                ("GET /healthz (ceiling)", service, None, "/healthz"),
            ):
                results.append(measure(label, base + path, kind, connections, duration, tmp))
        memory = {"gunicorn worker (service)": web.worker_rss_mb(), "gunicorn worker (floor)": floor.worker_rss_mb()}
        print(f"  resident memory after the runs: {memory}")
        if web.log().count("Traceback"):
            print(f"  the service logged errors:\n{web.log()[-2000:]}")
    return {"results": results, "memory": memory}


def table(outcome: dict[str, object]) -> str:
    results: list[Result] = outcome["results"]  # type: ignore[assignment]
    rows = [
        "| delivery | connections | req/s | p50 | p99 | errors | req/s vs floor | p99 vs floor |",
        "|---|---|---|---|---|---|---|---|",
    ]
    floors = {(r.label.split(", ")[-1], r.connections): r for r in results if r.label.startswith("floor")}
    for r in results:
        provider = "Stripe" if "stripe" in r.label.lower() else "Toss" if "toss" in r.label.lower() else None
        floor = floors.get((provider, r.connections)) if provider else None
        ratio = f"{r.rps / floor.rps:.2f}x" if floor and not r.label.startswith("floor") else ""
        p99 = f"{r.p99 / floor.p99:.2f}x" if floor and not r.label.startswith("floor") else ""
        rows.append(
            f"| {r.label} | {r.connections} | {r.rps:,.0f} | {r.p50:.1f} ms | {r.p99:.1f} ms "
            f"| {r.errors} | {ratio} | {p99} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement (after 2 s of warm-up)")
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 64])
    args = parser.parse_args()
    outcome = run(args.duration, args.connections)
    print()
    print(table(outcome))


if __name__ == "__main__":
    main()
