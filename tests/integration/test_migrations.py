"""Migrations are the schema: they match the models and round-trip on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from chatju import create_app
from chatju.extensions import db
from tests.support import services

# The head before provider names stopped being CHECK-listed (VARCHAR(10), 'toss' or 'stripe').
BEFORE_OPEN_PROVIDERS = "695188b7cc00"
OPEN_PROVIDERS = "4f1c2b8e9d3a"
T0 = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
# One row per table, written the way that revision's schema allows.
ROWS: dict[str, dict] = {
    "users": {
        "id": 1,
        "email": "ju@example.com",
        "display_name": "Ju",
        "is_admin": False,
        "customer_key": "ck-1",
        "premium_readings": 3,
        "created_at": T0,
        "updated_at": T0,
    },
    "magic_links": {"id": 1, "email": "ju@example.com", "token_hash": "a" * 64, "created_at": T0, "expires_at": T0},
    "payments": {
        "id": 1,
        "order_id": "order-1",
        "user_id": 1,
        "provider": "toss",
        "status": "PARTIALLY_REFUNDED",
        "amount": 5900,
        "currency": "KRW",
        "order_name": "Premium reading x3",
        "refunded_amount": 1000,
        "payment_key": "tgen_1",
        "method": "card",
        "disputed": False,
        "needs_review": True,
        "paid_at": T0,
        "created_at": T0,
        "updated_at": T0,
    },
    "payment_events": {
        "id": 1,
        "payment_id": 1,
        "kind": "transition",
        "from_status": "PENDING",
        "to_status": "PAID",
        "amount": 5900,
        "source": "api",
        "detail": {"approvedAt": "2026-12-01T18:30:00+09:00"},
        "created_at": T0,
    },
    "refunds": {
        "id": 1,
        "refund_id": "rf-1",
        "payment_id": 1,
        "amount": 1000,
        "currency": "KRW",
        "reason": "changed mind",
        "status": "succeeded",
        "source": "api",
        "created_at": T0,
        "updated_at": T0,
    },
    "webhook_events": {
        "id": 1,
        "provider": "stripe",
        "event_id": "evt_1",
        "event_type": "payment_intent.succeeded",
        "body": "{}",
        "headers": {"Stripe-Signature": "t=1,v1=x"},
        "state": "processed",
        "attempts": 1,
        "deliveries": 2,
        "received_at": T0,
    },
    "gateway_calls": {
        "id": 1,
        "provider": "stripe",
        "operation": "create_intent",
        "order_id": "order-2",
        "http_status": 200,
        "duration_ms": 120,
        "outcome": "ok",
        "response": {"status": "requires_payment_method"},
        "created_at": T0,
    },
    "idempotency_keys": {
        "id": 1,
        "user_id": 1,
        "route": "payments.create",
        "key": "idem-1",
        "request_hash": "b" * 64,
        "state": "completed",
        "response_status": 201,
        "response_body": {"orderId": "order-1"},
        "created_at": T0,
    },
    "entitlements": {
        "id": 1,
        "user_id": 1,
        "payment_id": 1,
        "product_id": "premium-3",
        "quantity": 3,
        "status": "granted",
        "granted_at": T0,
    },
    "outbox": {
        "id": 1,
        "payment_id": 1,
        "effect": "grant_entitlement",
        "state": "done",
        "attempts": 1,
        "payload": {"productId": "premium-3"},
        "created_at": T0,
        "done_at": T0,
    },
}


def table_names() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def schema_diff() -> list:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def reflected_tables() -> sa.MetaData:
    metadata = sa.MetaData()
    metadata.reflect(db.engine)
    return metadata


def seed_every_table() -> None:
    """Insert ROWS through the reflected schema: the models describe the head, not this revision."""
    tables = reflected_tables()
    assert set(ROWS) == set(tables.tables) - {"alembic_version"}
    with db.engine.begin() as conn:
        for table in tables.sorted_tables:
            if table.name in ROWS:
                conn.execute(sa.insert(table).values(ROWS[table.name]))


def as_utc(value: object) -> object:
    """SQLite keeps no zone, so its datetimes come back naive."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def stored_rows() -> dict[str, dict]:
    tables = reflected_tables().tables
    with db.engine.connect() as conn:
        found = {name: conn.execute(sa.select(tables[name])).mappings().all() for name in ROWS}
    assert all(len(rows) == 1 for rows in found.values()), found
    return {name: {key: as_utc(rows[0][key]) for key in ROWS[name]} for name, rows in found.items()}


def insert_payment(provider: str) -> None:
    payments = reflected_tables().tables["payments"]
    row = {**ROWS["payments"], "id": 2, "order_id": "order-2", "payment_key": None, "provider": provider}
    with db.engine.begin() as conn:
        conn.execute(sa.insert(payments).values(row))


def test_rows_survive_open_provider_names_on_postgresql(test_env, pg_database):
    url = services.create_database("upgrade")
    try:
        app = create_app({**test_env, "DATABASE_URL": url})
        with app.app_context():
            upgrade(revision=BEFORE_OPEN_PROVIDERS)
            seed_every_table()
            with pytest.raises(sa.exc.IntegrityError):
                insert_payment("fake")

            upgrade()
            assert stored_rows() == ROWS
            assert schema_diff() == []
            insert_payment("fake")
            db.engine.dispose()
    finally:
        services.drop_database(url)


def test_models_and_migrations_agree_and_round_trip_on_postgresql(test_env, pg_database):
    url = services.create_database("migrations")
    try:
        app = create_app({**test_env, "DATABASE_URL": url})
        with app.app_context():
            upgrade()
            expected = {table.name for table in db.metadata.sorted_tables}
            assert expected <= table_names()
            assert schema_diff() == []

            downgrade(revision="base")
            assert table_names() == {"alembic_version"}

            upgrade()
            assert expected <= table_names()
            assert schema_diff() == []
            db.engine.dispose()
    finally:
        services.drop_database(url)


def test_migrations_run_on_sqlite(test_env, tmp_path):
    app = create_app({**test_env, "DATABASE_URL": f"sqlite:///{tmp_path / 'm.sqlite'}"})
    with app.app_context():
        upgrade()
        assert {table.name for table in db.metadata.sorted_tables} <= table_names()
        downgrade(revision="base")
        assert table_names() == {"alembic_version"}
        db.engine.dispose()


def sqlite_indexes_of(table: str) -> set[str]:
    query = sa.text("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :table AND sql IS NOT NULL")
    with db.engine.connect() as conn:
        return set(conn.execute(query, {"table": table}).scalars())


def test_rows_survive_open_provider_names_on_sqlite(test_env, tmp_path):
    app = create_app({**test_env, "DATABASE_URL": f"sqlite:///{tmp_path / 'm.sqlite'}"})
    with app.app_context():
        upgrade(revision=BEFORE_OPEN_PROVIDERS)
        seed_every_table()
        with pytest.raises(sa.exc.IntegrityError):
            insert_payment("fake")
        indexes = sqlite_indexes_of("payments")

        upgrade(revision=OPEN_PROVIDERS)  # SQLite rebuilds payments, webhook_events and gateway_calls
        assert stored_rows() == ROWS
        assert sqlite_indexes_of("payments") == indexes
        insert_payment("fake")
        db.engine.dispose()


def test_constraints_guard_money_on_postgresql(app, make_user, pg_database):
    user_id = make_user()
    insert = sa.text(
        "INSERT INTO payments (order_id, user_id, provider, status, amount, currency, order_name,"
        " refunded_amount, disputed, needs_review, created_at, updated_at)"
        " VALUES (:order_id, :user_id, 'toss', 'PENDING', :amount, 'KRW', 'x', :refunded, false, false, now(), now())"
    )
    with app.app_context():
        for amount, refunded in ((0, 0), (-5, 0), (100, 101), (100, -1)):
            with db.engine.connect() as conn:
                try:
                    conn.execute(
                        insert,
                        {
                            "order_id": f"o-{amount}-{refunded}",
                            "user_id": user_id,
                            "amount": amount,
                            "refunded": refunded,
                        },
                    )
                except sa.exc.IntegrityError:
                    continue
                raise AssertionError(f"amount={amount} refunded={refunded} was accepted")


# Rows a periodic job is waiting on when per-row backoff arrives, and the column that aged them.
WAITING = {
    "payments": ({**ROWS["payments"], "status": "PROCESSING"}, "updated_at"),
    "refunds": ({**ROWS["refunds"], "status": "pending"}, "updated_at"),
    "webhook_events": ({**ROWS["webhook_events"], "state": "received"}, "received_at"),
    "outbox": ({**ROWS["outbox"], "state": "pending"}, "created_at"),
}


def rows_survive_per_row_backoff() -> None:
    """Every row is kept; those a job waits on are due at once, in the order their age gave them."""
    upgrade(revision=OPEN_PROVIDERS)
    seed_every_table()
    tables = reflected_tables().tables
    with db.engine.begin() as conn:
        for name, (row, _) in WAITING.items():
            conn.execute(sa.update(tables[name]).values(row))
    upgrade()
    kept = stored_rows()
    assert kept == {name: ({**ROWS[name], **WAITING[name][0]} if name in WAITING else ROWS[name]) for name in ROWS}
    tables = reflected_tables().tables
    with db.engine.connect() as conn:
        for name, (_, age) in WAITING.items():
            due, aged = conn.execute(sa.select(tables[name].c.next_attempt_at, tables[name].c[age])).one()
            assert as_utc(due) == as_utc(aged) == T0
        assert conn.execute(sa.select(tables["payments"].c.job_attempts)).scalar_one() == 0
        assert conn.execute(sa.select(tables["refunds"].c.attempts)).scalar_one() == 0


def test_rows_survive_per_row_backoff_on_postgresql(test_env, pg_database):
    url = services.create_database("backoff")
    try:
        app = create_app({**test_env, "DATABASE_URL": url})
        with app.app_context():
            rows_survive_per_row_backoff()
            assert schema_diff() == []
            db.engine.dispose()
    finally:
        services.drop_database(url)


def test_rows_survive_per_row_backoff_on_sqlite(test_env, tmp_path):
    app = create_app({**test_env, "DATABASE_URL": f"sqlite:///{tmp_path / 'm.sqlite'}"})
    with app.app_context():
        upgrade(revision=OPEN_PROVIDERS)
        indexes = sqlite_indexes_of("payments")
        downgrade(revision="base")
        rows_survive_per_row_backoff()  # SQLite rebuilds the four tables
        after = sqlite_indexes_of("payments")
        added = after - indexes
        assert indexes <= after
        assert [index.split(" ON ")[0] for index in added] == ["CREATE INDEX ix_payments_status_next_attempt"]
        db.engine.dispose()


# The head before the drift report's tables, and one row of each (a run, a difference about payment 1).
BEFORE_DRIFT = "5d2e8a41c7b3"
DRIFT_ROWS: dict[str, dict] = {
    "drift_runs": {
        "id": 1,
        "since": T0,
        "until": T0,
        "trigger": "beat",
        "providers": ["toss", "stripe"],
        "outcome": "differences",
        "checked": {"toss": 1, "stripe": 0},
        "started_at": T0,
        "finished_at": T0,
    },
    "drift_differences": {
        "id": 1,
        "run_id": 1,
        "provider": "toss",
        "kind": "STATUS_MISMATCH",
        "order_id": "order-1",
        "reference": "tgen_1",
        "payment_id": 1,
        "ours": {"status": "PAID"},
        "theirs": {"status": "PARTIAL_CANCELED"},
        "detail": "we hold it PAID; the gateway says PARTIAL_CANCELED",
        "flagged": True,
        "created_at": T0,
    },
}


def drift_tables_round_trip() -> None:
    """The drift tables arrive beside the rest, hold their rows and constraints, and leave cleanly."""
    upgrade(revision=BEFORE_DRIFT)
    before = table_names()
    upgrade()
    assert table_names() == before | set(DRIFT_ROWS)
    tables = reflected_tables().tables
    with db.engine.begin() as conn:
        for name in ("users", "payments", *DRIFT_ROWS):
            conn.execute(sa.insert(tables[name]).values({**ROWS, **DRIFT_ROWS}[name]))
    with db.engine.connect() as conn:
        for name, row in DRIFT_ROWS.items():
            stored = conn.execute(sa.select(tables[name])).mappings().one()
            assert {key: as_utc(stored[key]) for key in row} == row
    differences = tables["drift_differences"]
    for bad in ({"kind": "GUESSED"}, {"payment_id": 99}):
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
            conn.execute(sa.insert(differences).values({**DRIFT_ROWS["drift_differences"], "id": 2, **bad}))
    with db.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        conn.execute(sa.delete(tables["drift_runs"]))
        assert conn.execute(sa.select(sa.func.count()).select_from(differences)).scalar_one() == 0
    downgrade(revision=BEFORE_DRIFT)
    assert table_names() == before


def test_drift_tables_round_trip_on_postgresql(test_env, pg_database):
    url = services.create_database("drift")
    try:
        app = create_app({**test_env, "DATABASE_URL": url})
        with app.app_context():
            drift_tables_round_trip()
            upgrade()
            assert schema_diff() == []
            db.engine.dispose()
    finally:
        services.drop_database(url)


def test_drift_tables_round_trip_on_sqlite(test_env, tmp_path):
    app = create_app({**test_env, "DATABASE_URL": f"sqlite:///{tmp_path / 'm.sqlite'}"})
    with app.app_context():
        drift_tables_round_trip()
        db.engine.dispose()
