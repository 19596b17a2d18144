"""internal state of musrenbang proposals (behind the usulan and realisasi datasets)

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('od_musrenbang_proposals',
    sa.Column('proposal_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('state', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('proposal_id')
    )


def downgrade() -> None:
    op.drop_table('od_musrenbang_proposals')
