"""A partial index on the payments held for review (counted at every metrics scrape).

Revision ID: 695188b7cc00
Revises: 77de68e35325
Create Date: 2026-11-30 12:35:09.339580

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '695188b7cc00'
down_revision = '77de68e35325'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_payments_needs_review', 'payments', ['provider'], unique=False, postgresql_where=sa.text('needs_review'), sqlite_where=sa.text('needs_review'))


def downgrade() -> None:
    op.drop_index('ix_payments_needs_review', table_name='payments', postgresql_where=sa.text('needs_review'), sqlite_where=sa.text('needs_review'))
