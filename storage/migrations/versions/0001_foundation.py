"""foundation: cohorts, delegations, members, roles, identities, rooms, audit, codes, processed events, outbox

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 04:15:08.658886
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('cohort',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cohort')),
    sa.UniqueConstraint('slug', name=op.f('uq_cohort_slug'))
    )
    op.create_table('direct_room',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('room_id', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_direct_room')),
    sa.UniqueConstraint('platform', 'user_id', name=op.f('uq_direct_room_platform_user_id'))
    )
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('destination', sa.String(length=255), nullable=False),
    sa.Column('thread_id', sa.String(length=255), nullable=True),
    sa.Column('private_to', sa.String(length=255), nullable=True),
    sa.Column('hints', sa.JSON(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('edit_of', sa.String(length=255), nullable=True),
    sa.Column('status', sa.Enum('pending', 'sent', 'failed', name='outboxstatus', native_enum=False, length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('message_id', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('key', name=op.f('uq_outbox_key'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_pending', ['status', 'platform', 'destination'], unique=False)

    op.create_table('processed_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('event_id', sa.String(length=255), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_processed_event')),
    sa.UniqueConstraint('platform', 'event_id', name=op.f('uq_processed_event_platform_event_id'))
    )
    with op.batch_alter_table('processed_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_processed_event_at'), ['at'], unique=False)

    op.create_table('delegation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('territory', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohort.id'], name=op.f('fk_delegation_cohort_id_cohort'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delegation')),
    sa.UniqueConstraint('cohort_id', 'territory', name=op.f('uq_delegation_cohort_id_territory'))
    )
    op.create_table('member',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('delegation_id', sa.Integer(), nullable=True),
    sa.Column('category', sa.Enum('elu', 'agent', 'socioeco', 'etat', name='category', native_enum=False, length=16), nullable=True),
    sa.Column('is_referent', sa.Boolean(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['delegation_id'], ['delegation.id'], name=op.f('fk_member_delegation_id_delegation'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member'))
    )
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_member_delegation_id'), ['delegation_id'], unique=False)

    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_member_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=300), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_member_id'], ['member.id'], name=op.f('fk_audit_log_actor_member_id_member'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohort.id'], name=op.f('fk_audit_log_cohort_id_cohort'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_actor_member_id'), ['actor_member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)

    op.create_table('coordinator_role',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohort.id'], name=op.f('fk_coordinator_role_cohort_id_cohort'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_coordinator_role_member_id_member'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coordinator_role')),
    sa.UniqueConstraint('cohort_id', 'member_id', name=op.f('uq_coordinator_role_cohort_id_member_id'))
    )
    with op.batch_alter_table('coordinator_role', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coordinator_role_member_id'), ['member_id'], unique=False)

    op.create_table('linked_room',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('room_id', sa.String(length=255), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('linked_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohort.id'], name=op.f('fk_linked_room_cohort_id_cohort'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['linked_by'], ['member.id'], name=op.f('fk_linked_room_linked_by_member'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_linked_room')),
    sa.UniqueConstraint('platform', 'room_id', name=op.f('uq_linked_room_platform_room_id'))
    )
    with op.batch_alter_table('linked_room', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_linked_room_cohort_id'), ['cohort_id'], unique=False)

    op.create_table('one_time_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['member.id'], name=op.f('fk_one_time_code_created_by_member'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_one_time_code_member_id_member'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_one_time_code')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_one_time_code_code_hash'))
    )
    op.create_table('platform_identity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_platform_identity_member_id_member'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_platform_identity')),
    sa.UniqueConstraint('platform', 'user_id', name=op.f('uq_platform_identity_platform_user_id'))
    )
    with op.batch_alter_table('platform_identity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_platform_identity_member_id'), ['member_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('platform_identity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_platform_identity_member_id'))

    op.drop_table('platform_identity')
    op.drop_table('one_time_code')
    with op.batch_alter_table('linked_room', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_linked_room_cohort_id'))

    op.drop_table('linked_room')
    with op.batch_alter_table('coordinator_role', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coordinator_role_member_id'))

    op.drop_table('coordinator_role')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))
        batch_op.drop_index(batch_op.f('ix_audit_log_actor_member_id'))

    op.drop_table('audit_log')
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_member_delegation_id'))

    op.drop_table('member')
    op.drop_table('delegation')
    with op.batch_alter_table('processed_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_processed_event_at'))

    op.drop_table('processed_event')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_pending')

    op.drop_table('outbox')
    op.drop_table('direct_room')
    op.drop_table('cohort')

