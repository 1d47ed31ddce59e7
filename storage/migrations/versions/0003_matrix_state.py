"""matrix adapter state: the bot's device, its sync position, the rooms it is in

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 04:36:59.676690
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('matrix_room',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('room_id', sa.String(length=255), nullable=False),
    sa.Column('membership', sa.String(length=16), nullable=False),
    sa.Column('is_direct', sa.Boolean(), nullable=False),
    sa.Column('encrypted', sa.Boolean(), nullable=False),
    sa.Column('inviter', sa.String(length=255), nullable=True),
    sa.Column('joined_at_ms', sa.BigInteger(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_matrix_room')),
    sa.UniqueConstraint('user_id', 'room_id', name=op.f('uq_matrix_room_user_id_room_id'))
    )
    op.create_table('matrix_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('device_id', sa.String(length=255), nullable=True),
    sa.Column('next_batch', sa.Text(), nullable=True),
    sa.Column('synced_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_matrix_session')),
    sa.UniqueConstraint('user_id', name=op.f('uq_matrix_session_user_id'))
    )


def downgrade() -> None:
    op.drop_table('matrix_session')
    op.drop_table('matrix_room')
