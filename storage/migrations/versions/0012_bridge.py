"""bridge: relayed messages, cohort switches and Slack history cursors

Revision ID: 0012
Revises: 0001
Create Date: 2026-11-25 06:40:38.619690

A relay is recorded once per source message and target room (the unique key), in the
same transaction as the outbox row of its copy.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bridge_cursor',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('room_id', sa.String(length=255), nullable=False),
    sa.Column('position', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bridge_cursor')),
    sa.UniqueConstraint('platform', 'room_id', name=op.f('uq_bridge_cursor_platform_room_id'))
    )
    op.create_table('relay_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('source_platform', sa.String(length=16), nullable=False),
    sa.Column('source_room', sa.String(length=255), nullable=False),
    sa.Column('source_id', sa.String(length=255), nullable=False),
    sa.Column('target_platform', sa.String(length=16), nullable=False),
    sa.Column('target_room', sa.String(length=255), nullable=False),
    sa.Column('outbox_key', sa.String(length=255), nullable=False),
    sa.Column('target_id', sa.String(length=255), nullable=True),
    sa.Column('parts', sa.Integer(), nullable=False),
    sa.Column('thread_root', sa.String(length=255), nullable=True),
    sa.Column('annotates', sa.String(length=255), nullable=True),
    sa.Column('reaction', sa.String(length=64), nullable=True),
    sa.Column('last_change', sa.String(length=255), nullable=True),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('source_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohort.id'], name=op.f('fk_relay_message_cohort_id_cohort'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_relay_message')),
    sa.UniqueConstraint('outbox_key', name=op.f('uq_relay_message_outbox_key')),
    sa.UniqueConstraint('source_platform', 'source_room', 'source_id', 'target_platform', 'target_room', name='uq_relay_message_source_target')
    )
    with op.batch_alter_table('relay_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_relay_message_cohort_id'), ['cohort_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_relay_message_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_relay_message_target', ['target_platform', 'target_room', 'target_id'], unique=False)

    op.create_table('bridge',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_by', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_relayed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_lag_ms', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['changed_by'], ['member.id'], name=op.f('fk_bridge_changed_by_member'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohort.id'], name=op.f('fk_bridge_cohort_id_cohort'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bridge')),
    sa.UniqueConstraint('cohort_id', name=op.f('uq_bridge_cohort_id'))
    )


def downgrade() -> None:
    op.drop_table('bridge')
    with op.batch_alter_table('relay_message', schema=None) as batch_op:
        batch_op.drop_index('ix_relay_message_target')
        batch_op.drop_index(batch_op.f('ix_relay_message_created_at'))
        batch_op.drop_index(batch_op.f('ix_relay_message_cohort_id'))

    op.drop_table('relay_message')
    op.drop_table('bridge_cursor')
