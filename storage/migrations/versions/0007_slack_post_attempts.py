"""slack post attempts: look before posting again after an unknown outcome

Revision ID: 0007
Revises: 0002
Create Date: 2026-11-25 04:36:46.522828
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('slack_post_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('outbox_key', sa.String(length=255), nullable=False),
    sa.Column('channel', sa.String(length=255), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_slack_post_attempt')),
    sa.UniqueConstraint('outbox_key', name=op.f('uq_slack_post_attempt_outbox_key'))
    )
    with op.batch_alter_table('slack_post_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_slack_post_attempt_started_at'), ['started_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('slack_post_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_slack_post_attempt_started_at'))

    op.drop_table('slack_post_attempt')
