"""refunds.receive_account: the bank account a refund is paid into, while it is in flight.

A deposited Toss virtual account is refunded by transfer to an account the customer
names. The column holds it until the refund settles (a retry or reconciliation sends it
again) and is then set to NULL. One nullable column; no existing row changes.

Revision ID: 5d2e8a41c7b3
Revises: 3b7e5c1a9d20
Create Date: 2026-12-04 18:40:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '5d2e8a41c7b3'
down_revision = '3b7e5c1a9d20'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('receive_account', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_column('receive_account')
