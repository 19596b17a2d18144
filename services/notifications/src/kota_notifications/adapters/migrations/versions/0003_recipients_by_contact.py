"""recipients by contact: RegisterRecipient counts a contact's registrations of the last day

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 20:40:00
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('nt_recipients', schema=None) as batch_op:
        batch_op.create_index('ix_nt_recipients_contact', ['channel', 'address', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('nt_recipients', schema=None) as batch_op:
        batch_op.drop_index('ix_nt_recipients_contact')
