"""Migrations are the schema: they match the models and round-trip on PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from chatju import create_app
from chatju.extensions import db
from tests.support import services


def table_names() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def schema_diff() -> list:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


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
