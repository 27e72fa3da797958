"""Drift report: drift_runs (one row per run, with its window and outcome) and drift_differences.

Two new tables; no existing table or row changes. A difference names one of our payments
when it is about one (payment_id, RESTRICT: a payment with a reported difference is kept);
deleting a run deletes its differences.

Revision ID: d41f7a2c9b18
Revises: 5d2e8a41c7b3
Create Date: 2026-12-04 18:40:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = 'd41f7a2c9b18'
down_revision = '5d2e8a41c7b3'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('drift_runs',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('trigger', sa.String(length=20), nullable=False),
    sa.Column('providers', JSON, nullable=False),
    sa.Column('outcome', sa.Enum('running', 'clean', 'differences', 'failed', name=op.f('ck_drift_runs_outcome'), native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('checked', JSON, nullable=False),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drift_runs'))
    )
    op.create_index('ix_drift_runs_outcome_finished', 'drift_runs', ['outcome', 'finished_at'], unique=False)
    op.create_table('drift_differences',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('run_id', BIG_ID, nullable=False),
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.Enum('MISSING_HERE', 'MISSING_THERE', 'STATUS_MISMATCH', 'AMOUNT_MISMATCH', name=op.f('ck_drift_differences_kind'), native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=True),
    sa.Column('reference', sa.String(length=255), nullable=True),
    sa.Column('payment_id', BIG_ID, nullable=True),
    sa.Column('ours', JSON, nullable=True),
    sa.Column('theirs', JSON, nullable=True),
    sa.Column('detail', sa.String(length=500), nullable=False),
    sa.Column('flagged', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_drift_differences_payment_id_payments'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['run_id'], ['drift_runs.id'], name=op.f('fk_drift_differences_run_id_drift_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drift_differences'))
    )
    op.create_index(op.f('ix_drift_differences_payment_id'), 'drift_differences', ['payment_id'], unique=False)
    op.create_index(op.f('ix_drift_differences_run_id'), 'drift_differences', ['run_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_drift_differences_run_id'), table_name='drift_differences')
    op.drop_index(op.f('ix_drift_differences_payment_id'), table_name='drift_differences')
    op.drop_table('drift_differences')
    op.drop_index('ix_drift_runs_outcome_finished', table_name='drift_runs')
    op.drop_table('drift_runs')
