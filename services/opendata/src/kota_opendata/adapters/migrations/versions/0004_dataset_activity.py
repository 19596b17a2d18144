"""the datasets' activity streams (package_activity_list), one row per opendata.events.v1 event

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('od_dataset_activity',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('dataset_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('activity_type', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('event_type', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('record_count', sa.Integer(), nullable=False),
    sa.Column('changes', sa.Integer(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_od_dataset_activity_dataset', 'od_dataset_activity', ['dataset_id', 'at'])


def downgrade() -> None:
    op.drop_index('ix_od_dataset_activity_dataset', table_name='od_dataset_activity')
    op.drop_table('od_dataset_activity')
