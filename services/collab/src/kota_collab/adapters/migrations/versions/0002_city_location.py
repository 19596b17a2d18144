"""a city's location (latitude, longitude) for the portal's map of partner cities

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('collab_cities', sa.Column('latitude', sa.Float(), nullable=True))
    op.add_column('collab_cities', sa.Column('longitude', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('collab_cities') as batch:
        batch.drop_column('longitude')
        batch.drop_column('latitude')
