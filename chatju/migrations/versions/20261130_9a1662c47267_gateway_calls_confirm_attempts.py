"""Gateway call audit trail; the confirm attempt and last sync on payments.

Revision ID: 9a1662c47267
Revises: 0752bb72022b
Create Date: 2026-11-30 11:30:24.667414

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '9a1662c47267'
down_revision = '0752bb72022b'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('gateway_calls',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('provider', sa.Enum('toss', 'stripe', name=op.f('ck_gateway_calls_provider'), native_enum=False, create_constraint=True, length=10), nullable=False),
    sa.Column('operation', sa.String(length=40), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=True),
    sa.Column('idempotency_key', sa.String(length=300), nullable=True),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('error_code', sa.String(length=100), nullable=True),
    sa.Column('response', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gateway_calls'))
    )
    op.create_index('ix_gateway_calls_order_created', 'gateway_calls', ['order_id', 'created_at'], unique=False)
    # Batch mode, so SQLite rebuilds the table where it cannot ALTER in place.
    with op.batch_alter_table('payments') as batch:
        batch.add_column(sa.Column('attempt_key', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('attempt_from_status', sa.String(length=20), nullable=True))
        batch.add_column(sa.Column('attempt_started_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('synced_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('payments') as batch:
        batch.drop_column('synced_at')
        batch.drop_column('attempt_started_at')
        batch.drop_column('attempt_from_status')
        batch.drop_column('attempt_key')
    op.drop_index('ix_gateway_calls_order_created', table_name='gateway_calls')
    op.drop_table('gateway_calls')
