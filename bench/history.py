"""History page latency with 1,000,000 payments across 10,000 users (issue 5).

    .venv/bin/python -m bench.history [--payments 1000000] [--users 10000] [--requests 200]

Creates its own database on TEST_DATABASE_URL's server (default postgres@127.0.0.1),
migrates it with Alembic, fills it in SQL, times GET /payment/history/me through the
Flask test client, compares a deep keyset page with the same page by OFFSET, tries the
candidate index (user_id, status, created_at DESC, id DESC), prints the EXPLAIN plans,
and drops the database. Not a test: nothing here runs under `make test`.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade
from psycopg2 import sql
from sqlalchemy.engine import make_url

from chatju import create_app
from chatju.api.tokens import access_token_for
from chatju.auth.models import User
from chatju.extensions import db
from chatju.payments.history import encode_cursor, history_query, position_after, position_query
from chatju.payments.models import Payment
from chatju.payments.schemas import payment_json
from chatju.states import PaymentStatus

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
HEAVY_USER = 1  # every 20th payment is theirs: 5% of the table, the worst history there is
RARE_STATUS = "REFUNDED"  # 0.2% of the heavy user's payments
ABSENT_STATUS = "PROCESSING"  # none of the heavy user's: the filter walks their whole history
CANDIDATE_INDEX = "CREATE INDEX ix_bench_user_status_created ON payments (user_id, status, created_at DESC, id DESC)"

USERS_SQL = """
INSERT INTO users (email, customer_key, created_at, updated_at)
SELECT 'bench' || g || '@example.com', 'cus_bench_' || md5(g::text), now(), now()
FROM generate_series(1, %(users)s) AS g
"""
# Ids rise with created_at, as they do in production; typical users get ~95 payments each.
PAYMENTS_SQL = """
INSERT INTO payments (order_id, user_id, provider, status, amount, currency, order_name, refunded_amount,
                      payment_key, method, card_brand, card_last4, receipt_url, paid_at, created_at, updated_at)
SELECT 'ord_' || md5(g::text), user_id, provider,
       status, amount, currency, '프리미엄 리딩', CASE WHEN status = 'REFUNDED' THEN amount ELSE 0 END,
       CASE WHEN paid THEN 'pk_' || md5('k' || g) END, CASE WHEN paid THEN 'card' END,
       CASE WHEN paid THEN 'visa' END, CASE WHEN paid THEN lpad((g %% 10000)::text, 4, '0') END,
       CASE WHEN paid THEN 'https://receipt.example/' || md5('r' || g) END,
       CASE WHEN paid THEN at + interval '1 minute' END, at, at
FROM (
    SELECT g, at, user_id, provider, status, status IN ('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED') AS paid,
           CASE provider WHEN 'toss' THEN 13000 ELSE 1000 END AS amount,
           CASE provider WHEN 'toss' THEN 'KRW' ELSE 'USD' END AS currency
    FROM (
        SELECT g,
               now() - interval '730 days' + (interval '730 days' * g / %(payments)s) AS at,
               CASE WHEN g %% 20 = 0 THEN 1 ELSE 2 + floor(random() * (%(users)s - 1))::int END AS user_id,
               CASE WHEN random() < 0.7 THEN 'toss' ELSE 'stripe' END AS provider,
               CASE WHEN g %% 20 = 0 THEN CASE WHEN r < 0.998 THEN 'PAID' ELSE 'REFUNDED' END
                    WHEN r < 0.70 THEN 'PAID' WHEN r < 0.80 THEN 'EXPIRED' WHEN r < 0.88 THEN 'FAILED'
                    WHEN r < 0.93 THEN 'CANCELED' WHEN r < 0.96 THEN 'PENDING' WHEN r < 0.98 THEN 'REFUNDED'
                    WHEN r < 0.99 THEN 'PARTIALLY_REFUNDED' ELSE 'PROCESSING' END AS status
        FROM (SELECT g, random() AS r FROM generate_series(1, %(payments)s) AS g) AS numbers
    ) AS drawn
) AS rows
"""


@contextmanager
def admin_cursor(url: str) -> Iterator[Any]:
    conn = psycopg2.connect(url, connect_timeout=3)
    conn.autocommit = True  # CREATE/DROP DATABASE and VACUUM refuse to run in a transaction
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


@contextmanager
def bench_database(server_url: str) -> Iterator[str]:
    """A database of this run on the server, dropped afterwards whatever happens."""
    name = f"chatju_bench_{os.getpid()}_{secrets.token_hex(3)}"
    with admin_cursor(server_url) as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin_cursor(server_url) as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def build_app(database_url: str, instance_dir: str) -> Flask:
    app = create_app(
        {
            "CHATJU_ENV": "test",
            "CHATJU_INSTANCE_DIR": instance_dir,
            "DATABASE_URL": database_url,
            "JWT_SECRET_KEY": secrets.token_hex(32),
            "REDIS_URL": "",
            "LOG_LEVEL": "WARNING",  # no access-log line per request in the timings
            "RATE_LIMIT_DEFAULT": "100000000 per minute",
        }
    )
    with app.app_context():
        upgrade()
    return app


def fill(database_url: str, users: int, payments: int) -> None:
    with admin_cursor(database_url) as cur:
        cur.execute("SELECT setseed(0.42)")
        cur.execute(USERS_SQL, {"users": users})
        cur.execute(PAYMENTS_SQL, {"users": users, "payments": payments})
        cur.execute("VACUUM ANALYZE users")
        cur.execute("VACUUM ANALYZE payments")


def percentiles(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return f"p50 {cuts[49]:7.2f} ms   p95 {cuts[94]:7.2f} ms   max {max(samples):7.2f} ms"


def timed(requests: int, call: Callable[[int], Any]) -> list[float]:
    call(0)  # one warm-up, not counted
    samples = []
    for n in range(requests):
        started = time.perf_counter()
        call(n)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def route_call(app: Flask, tokens: list[str], **params: Any) -> Callable[[int], Any]:
    client = app.test_client()

    def call(n: int) -> Any:
        headers = {"Authorization": f"Bearer {tokens[n % len(tokens)]}"}
        response = client.get("/payment/history/me", query_string=params, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)  # noqa: S101
        return response.get_json()

    return call


def explain(app: Flask, query: sa.Select[Any]) -> str:
    with app.app_context(), db.engine.connect() as conn:
        compiled = query.compile(db.engine)
        rows = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {compiled}", compiled.params)
        return "\n".join("    " + row[0] for row in rows)


class Bench:
    def __init__(self, app: Flask, users: int, requests: int, deep_offset: int) -> None:
        self.app, self.requests, self.deep_offset = app, requests, deep_offset
        self.rows: list[tuple[str, list[float]]] = []
        with app.app_context():
            ids = [HEAVY_USER, *range(2, users + 1, max(1, users // requests))]
            self.tokens = {uid: access_token_for(db.session.get(User, uid)) for uid in ids}
            deep = self.offset_query(deep_offset - 1, 1).with_only_columns(Payment.order_id)
            self.deep_after = db.session.execute(deep).scalar_one()
        self.typical = [token for uid, token in self.tokens.items() if uid != HEAVY_USER]
        self.heavy = [self.tokens[HEAVY_USER]]
        self.cursor = encode_cursor(self.deep_after)

    def offset_query(self, offset: int, limit: int) -> sa.Select[tuple[Payment]]:
        return history_query(HEAVY_USER, limit).offset(offset)

    def report(self, label: str, call: Callable[[int], Any]) -> list[float]:
        samples = timed(self.requests, call)
        print(f"  {label:<58} {percentiles(samples)}")
        self.rows.append((label, samples))
        return samples

    def table(self) -> str:
        """Every figure of the run as a Markdown table (p50 and p95, ms)."""
        lines = ["| page | p50 | p95 |", "|---|---|---|"]
        for label, samples in self.rows:
            if not samples:
                lines.append(f"| *{label}* | | |")
                continue
            ordered = sorted(samples)
            p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
            lines.append(f"| {label} | {statistics.median(samples):.2f} ms | {p95:.2f} ms |")
        return "\n".join(lines)

    def scenarios(self, filtered_only: bool) -> list[tuple[str, list[str], dict[str, str]]]:
        typical, heavy = self.typical, self.heavy
        unfiltered = [
            ("first page, typical user (~95 payments)", typical, {}),
            ("first page, heavy user (50,000 payments)", heavy, {}),
            (f"deep page by cursor, heavy user (row {self.deep_offset:,})", heavy, {"cursor": self.cursor}),
        ]
        filtered = [
            ("status=PAID, typical user", typical, {"status": "PAID"}),
            ("provider=stripe&status=FAILED, typical user", typical, {"provider": "stripe", "status": "FAILED"}),
            (f"status={RARE_STATUS}, heavy user (0.2% of theirs)", heavy, {"status": RARE_STATUS}),
            (f"status={ABSENT_STATUS}, heavy user (none: worst case)", heavy, {"status": ABSENT_STATUS}),
        ]
        return filtered if filtered_only else unfiltered + filtered

    def routes(self, filtered_only: bool = False) -> None:
        for label, tokens, params in self.scenarios(filtered_only):
            self.report(label, route_call(self.app, tokens, **params))

    def offset_baseline(self) -> None:
        """The same deep page by keyset and by OFFSET, both as the query plus payment_json (no HTTP)."""
        with self.app.app_context():
            after = position_after(HEAVY_USER, self.deep_after)
            keyset = history_query(HEAVY_USER, 21, after)
            by_offset = self.offset_query(self.deep_offset, 21)

            def run(query: sa.Select[tuple[Payment]]) -> Callable[[int], Any]:
                return lambda n: [payment_json(p) for p in db.session.execute(query).scalars()]

            same = [p["orderId"] for p in run(keyset)(0)] == [p["orderId"] for p in run(by_offset)(0)]
            assert same, "keyset and OFFSET disagree about the deep page"  # noqa: S101
            fast = self.report(f"keyset query, heavy user, row {self.deep_offset:,}", run(keyset))
            slow = self.report(f"OFFSET {self.deep_offset:,} query, heavy user (baseline)", run(by_offset))
        print(f"  OFFSET / keyset at p50: {statistics.median(slow) / statistics.median(fast):.0f}x")

    def plans(self) -> None:
        typical_user = 2
        with self.app.app_context():
            after = position_after(HEAVY_USER, self.deep_after)
        for label, query in (
            ("first page, typical user", history_query(typical_user, 21)),
            ("the cursor's position (one lookup per cursor page)", position_query(HEAVY_USER, self.deep_after)),
            ("deep page by cursor, heavy user", history_query(HEAVY_USER, 21, after)),
            ("status=PAID, typical user", history_query(typical_user, 21, status=PaymentStatus.PAID)),
            (f"status={RARE_STATUS}, heavy user", history_query(HEAVY_USER, 21, status=PaymentStatus(RARE_STATUS))),
            (f"status={ABSENT_STATUS}, heavy user", history_query(HEAVY_USER, 21, status=PaymentStatus(ABSENT_STATUS))),
            (f"OFFSET {self.deep_offset:,}, heavy user", self.offset_query(self.deep_offset, 21)),
        ):
            print(f"\n  -- {label}\n{explain(self.app, query)}")


def machine_facts(database_url: str) -> None:
    with admin_cursor(database_url) as cur:
        cur.execute("SHOW server_version")
        version = cur.fetchone()[0]
        cur.execute("SHOW shared_buffers")
        buffers = cur.fetchone()[0]
        cur.execute("SELECT pg_size_pretty(pg_table_size('payments'))")
        table = cur.fetchone()[0]
        cur.execute("SELECT pg_size_pretty(pg_relation_size('ix_payments_user_created'))")
        index = cur.fetchone()[0]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: nproc {os.cpu_count()}, load average {load}, PostgreSQL {version} (shared_buffers {buffers})")
    print(f"Python {platform.python_version()} on {platform.platform()}")
    print(f"payments table {table}; ix_payments_user_created {index}")


def run(payments: int, users: int, requests: int, deep_offset: int) -> str:
    """The whole history bench; returns its figures as a Markdown table."""
    server = os.environ.get("TEST_DATABASE_URL") or DEFAULT_PG
    with bench_database(server) as url, tempfile.TemporaryDirectory() as instance:
        started = time.perf_counter()
        app = build_app(url, instance)
        fill(url, users, payments)
        print(f"filled {payments:,} payments for {users:,} users in {time.perf_counter() - started:.0f} s")
        machine_facts(url)
        bench = Bench(app, users, requests, deep_offset)
        print(f"\nGET /payment/history/me, limit 20, {requests} requests each (Flask test client):")
        bench.routes()
        print("\nthe same deep page, keyset against OFFSET:")
        bench.offset_baseline()
        print("\nEXPLAIN (ANALYZE, BUFFERS):")
        bench.plans()
        with admin_cursor(url) as cur:
            cur.execute(CANDIDATE_INDEX)
            cur.execute("ANALYZE payments")
            cur.execute("SELECT pg_size_pretty(pg_relation_size('ix_bench_user_status_created'))")
            size = cur.fetchone()[0]
        print(f"\nwith the candidate index (user_id, status, created_at DESC, id DESC), {size}:")
        bench.rows.append(("(with the candidate index from here on)", []))
        bench.routes(filtered_only=True)
        query = history_query(HEAVY_USER, 21, status=PaymentStatus(RARE_STATUS))
        print(f"\n  -- status={RARE_STATUS}, heavy user, candidate index present\n{explain(app, query)}")
        with app.app_context():
            db.engine.dispose()
    print(f"\ndone in {time.perf_counter() - started:.0f} s; database dropped")
    return bench.table()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--deep-offset", type=int, default=25_000)
    args = parser.parse_args()
    table = run(args.payments, args.users, args.requests, args.deep_offset)
    print()
    print(table)


if __name__ == "__main__":
    main()
