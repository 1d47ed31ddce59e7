"""matrix native polls: the events the bot posted for each poll (native polls and their
text), so responses and replies can be read as votes and the polls ended at the close

Revision ID: 0010
Revises: 0003
Create Date: 2026-11-25 06:15:19.484801
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('matrix_poll_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=255), nullable=False),
    sa.Column('room_id', sa.String(length=255), nullable=False),
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_matrix_poll_event')),
    sa.UniqueConstraint('event_id', name=op.f('uq_matrix_poll_event_event_id'))
    )
    with op.batch_alter_table('matrix_poll_event', schema=None) as batch_op:
        batch_op.create_index('ix_matrix_poll_event_poll_id', ['poll_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('matrix_poll_event', schema=None) as batch_op:
        batch_op.drop_index('ix_matrix_poll_event_poll_id')

    op.drop_table('matrix_poll_event')
