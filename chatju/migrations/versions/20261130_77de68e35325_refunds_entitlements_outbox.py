"""Refunds, entitlements and the side-effect outbox.

Revision ID: 77de68e35325
Revises: 9a1662c47267
Create Date: 2026-11-30 12:05:56.221421

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '77de68e35325'
down_revision = '9a1662c47267'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('entitlements',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('payment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('product_id', sa.String(length=64), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('granted', 'revoked', name=op.f('ck_entitlements_status'), native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_entitlements_payment_id_payments'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_entitlements_user_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_entitlements')),
    sa.UniqueConstraint('payment_id', name=op.f('uq_entitlements_payment_id'))
    )
    op.create_index(op.f('ix_entitlements_user_id'), 'entitlements', ['user_id'], unique=False)
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('payment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('effect', sa.Enum('grant_entitlement', 'receipt_mail', 'revoke_entitlement', name=op.f('ck_outbox_effect'), native_enum=False, create_constraint=True, length=30), nullable=False),
    sa.Column('state', sa.Enum('pending', 'done', 'failed', name=op.f('ck_outbox_state'), native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_outbox_payment_id_payments'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('payment_id', 'effect', name=op.f('uq_outbox_payment_id_effect'))
    )
    op.create_index('ix_outbox_state_created', 'outbox', ['state', 'created_at'], unique=False)
    op.create_table('refunds',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('refund_id', sa.String(length=40), nullable=False),
    sa.Column('payment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('status', sa.Enum('pending', 'succeeded', 'failed', name=op.f('ck_refunds_status'), native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('source', sa.Enum('api', 'webhook', 'reconcile', 'refund', 'admin', name=op.f('ck_refunds_source'), native_enum=False, create_constraint=True, length=10), nullable=False),
    sa.Column('requested_by', sa.String(length=254), nullable=True),
    sa.Column('gateway_refund_id', sa.String(length=255), nullable=True),
    sa.Column('failure_code', sa.String(length=100), nullable=True),
    sa.Column('failure_message', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_refunds_amount_positive')),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_refunds_payment_id_payments'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refunds')),
    sa.UniqueConstraint('gateway_refund_id', name=op.f('uq_refunds_gateway_refund_id')),
    sa.UniqueConstraint('refund_id', name=op.f('uq_refunds_refund_id'))
    )
    op.create_index(op.f('ix_refunds_payment_id'), 'refunds', ['payment_id'], unique=False)
    op.create_index('ix_refunds_status_created', 'refunds', ['status', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_refunds_status_created', table_name='refunds')
    op.drop_index(op.f('ix_refunds_payment_id'), table_name='refunds')
    op.drop_table('refunds')
    op.drop_index('ix_outbox_state_created', table_name='outbox')
    op.drop_table('outbox')
    op.drop_index(op.f('ix_entitlements_user_id'), table_name='entitlements')
    op.drop_table('entitlements')
