"""Provider columns become plain VARCHAR(20): the gateway registry, not a CHECK, lists the providers.

Drops ck_payments_provider, ck_webhook_events_provider and ck_gateway_calls_provider and
widens the three columns from VARCHAR(10); every row is kept.

The downgrade restores VARCHAR(10) and the CHECK (provider IN ('toss', 'stripe')), so it fails
while any row names another provider: those rows must be deleted or renamed first.

Revision ID: 4f1c2b8e9d3a
Revises: 695188b7cc00
Create Date: 2026-12-04 10:00:00.000000

"""
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '4f1c2b8e9d3a'
down_revision = '695188b7cc00'
branch_labels = None
depends_on = None

TABLES = ('payments', 'webhook_events', 'gateway_calls')


@contextmanager
def sqlite_foreign_keys_off():
    """SQLite rebuilds a table by copy, drop and rename, and enforced foreign keys refuse to drop
    payments while other rows point at it. The copy keeps every id, so the references hold again
    after the rename. The pragma is ignored inside a transaction, hence the autocommit blocks.
    """
    if op.get_bind().dialect.name != 'sqlite':
        yield
        return
    with op.get_context().autocommit_block():
        op.execute('PRAGMA foreign_keys=OFF')
    yield
    with op.get_context().autocommit_block():
        op.execute('PRAGMA foreign_keys=ON')


def restore_descending_index() -> None:
    """SQLite reflects ix_payments_user_created without its DESC, so its rebuild needs restating."""
    if op.get_bind().dialect.name != 'sqlite':
        return
    op.drop_index('ix_payments_user_created', table_name='payments')
    op.create_index('ix_payments_user_created', 'payments', ['user_id', sa.literal_column('created_at DESC'), sa.literal_column('id DESC')], unique=False)


def upgrade() -> None:
    with sqlite_foreign_keys_off():
        for table in TABLES:
            # Batch mode, so SQLite rebuilds the table where it cannot ALTER in place.
            with op.batch_alter_table(table) as batch:
                batch.drop_constraint(op.f(f'ck_{table}_provider'), type_='check')
                batch.alter_column('provider', existing_type=sa.String(length=10), type_=sa.String(length=20), existing_nullable=False)
        restore_descending_index()


def downgrade() -> None:
    with sqlite_foreign_keys_off():
        for table in TABLES:
            with op.batch_alter_table(table) as batch:
                batch.alter_column('provider', existing_type=sa.String(length=20), type_=sa.String(length=10), existing_nullable=False)
                batch.create_check_constraint(op.f(f'ck_{table}_provider'), sa.text("provider IN ('toss', 'stripe')"))
        restore_descending_index()
