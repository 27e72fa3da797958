"""Jobs back off per row: next_attempt_at on payments, refunds, webhook_events and outbox.

Adds `next_attempt_at` (NOT NULL, default now()) to the four tables the periodic jobs
take their batches from, a count of tries where there was none (payments.job_attempts,
refunds.attempts; webhook_events and outbox keep their `attempts`), and an index on
(status or state, next_attempt_at) for each batch query.

Additive only: every row is kept, and code that does not know the columns still works
(the defaults fill them). Rows already waiting for a job are due at once, in the order
the jobs took them before (by their age); all other rows get the migration's time.

The downgrade drops the columns and indexes: only the backoff bookkeeping is lost.

Revision ID: 03ba85d66885
Revises: 4f1c2b8e9d3a
Create Date: 2026-12-05 09:00:00.000000

"""
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '03ba85d66885'
down_revision = '4f1c2b8e9d3a'
branch_labels = None
depends_on = None

# table: (the new count of tries or None, its status column, the rows the jobs wait on, their age)
TABLES = {
    'payments': ('job_attempts', 'status', "status IN ('PENDING', 'PROCESSING')", 'updated_at'),
    'refunds': ('attempts', 'status', "status = 'pending'", 'updated_at'),
    'webhook_events': (None, 'state', "state = 'received'", 'received_at'),
    'outbox': (None, 'state', "state = 'pending'", 'created_at'),
}


@contextmanager
def sqlite_foreign_keys_off():
    """SQLite rebuilds each table (a column defaulting to now() cannot be added in place), and
    enforced foreign keys refuse to drop payments while other rows point at it. The copy keeps
    every id. The pragma is ignored inside a transaction, hence the autocommit blocks.
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
        for table, (tries, status, waiting, age) in TABLES.items():
            with op.batch_alter_table(table) as batch:
                if tries is not None:
                    batch.add_column(sa.Column(tries, sa.Integer(), server_default='0', nullable=False))
                batch.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False))
            op.execute(f'UPDATE {table} SET next_attempt_at = {age} WHERE {waiting}')
            op.create_index(f'ix_{table}_{status}_next_attempt', table, [status, 'next_attempt_at'], unique=False)
        restore_descending_index()


def downgrade() -> None:
    with sqlite_foreign_keys_off():
        for table, (tries, status, _, _) in TABLES.items():
            op.drop_index(f'ix_{table}_{status}_next_attempt', table_name=table)
            with op.batch_alter_table(table) as batch:
                batch.drop_column('next_attempt_at')
                if tries is not None:
                    batch.drop_column(tries)
        restore_descending_index()
