"""index processed_events by time, for the retention sweep

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_processed_events_processed_at', 'processed_events', ['processed_at'])


def downgrade() -> None:
    op.drop_index('ix_processed_events_processed_at', table_name='processed_events')
