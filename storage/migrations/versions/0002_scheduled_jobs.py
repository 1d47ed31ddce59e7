"""scheduled jobs: durable timers claimed once

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 04:28:10.537544
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('scheduled_job',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'done', 'cancelled', 'failed', name='jobstatus', native_enum=False, length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduled_job')),
    sa.UniqueConstraint('key', name=op.f('uq_scheduled_job_key'))
    )
    with op.batch_alter_table('scheduled_job', schema=None) as batch_op:
        batch_op.create_index('ix_scheduled_job_due', ['status', 'due_at'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('scheduled_job', schema=None) as batch_op:
        batch_op.drop_index('ix_scheduled_job_due')

    op.drop_table('scheduled_job')

