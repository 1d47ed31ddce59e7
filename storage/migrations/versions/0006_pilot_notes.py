"""pilot-project notes: notes, answers with history, conversations

Revision ID: 0006
Revises: 0002
Create Date: 2026-11-25 04:36:51.539701
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pilot_note',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('delegation_id', sa.Integer(), nullable=False),
    sa.Column('questionnaire', sa.String(length=64), nullable=False),
    sa.Column('questionnaire_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohort.id'], name=op.f('fk_pilot_note_cohort_id_cohort'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['member.id'], name=op.f('fk_pilot_note_created_by_member'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['delegation_id'], ['delegation.id'], name=op.f('fk_pilot_note_delegation_id_delegation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pilot_note')),
    sa.UniqueConstraint('delegation_id', 'questionnaire', name=op.f('uq_pilot_note_delegation_id_questionnaire'))
    )
    with op.batch_alter_table('pilot_note', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pilot_note_cohort_id'), ['cohort_id'], unique=False)

    op.create_table('note_answer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('note_id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.Column('answered_by', sa.Integer(), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['answered_by'], ['member.id'], name=op.f('fk_note_answer_answered_by_member'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['note_id'], ['pilot_note.id'], name=op.f('fk_note_answer_note_id_pilot_note'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_note_answer')),
    sa.UniqueConstraint('note_id', 'question_id', name=op.f('uq_note_answer_note_id_question_id'))
    )
    op.create_table('note_conversation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('note_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.Enum('asking', 'collecting', 'review', 'paused', 'done', 'cancelled', name='conversationstate', native_enum=False, length=16), nullable=False),
    sa.Column('question_id', sa.String(length=64), nullable=True),
    sa.Column('buffer', sa.JSON(), nullable=False),
    sa.Column('skipped', sa.JSON(), nullable=False),
    sa.Column('seen_version', sa.Integer(), nullable=True),
    sa.Column('current_for', sa.String(length=300), nullable=True),
    sa.Column('room_hint', sa.String(length=64), nullable=True),
    sa.Column('remind_epoch', sa.Integer(), nullable=False),
    sa.Column('reminders_sent', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_activity_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_note_conversation_member_id_member'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['note_id'], ['pilot_note.id'], name=op.f('fk_note_conversation_note_id_pilot_note'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_note_conversation')),
    sa.UniqueConstraint('current_for', name=op.f('uq_note_conversation_current_for')),
    sa.UniqueConstraint('platform', 'user_id', 'note_id', name=op.f('uq_note_conversation_platform_user_id_note_id'))
    )
    with op.batch_alter_table('note_conversation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_note_conversation_note_id'), ['note_id'], unique=False)

    op.create_table('note_answer_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('answer_id', sa.Integer(), nullable=False),
    sa.Column('note_id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('previous', sa.JSON(), nullable=True),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.Column('changed_by', sa.Integer(), nullable=True),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['answer_id'], ['note_answer.id'], name=op.f('fk_note_answer_history_answer_id_note_answer'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['changed_by'], ['member.id'], name=op.f('fk_note_answer_history_changed_by_member'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['note_id'], ['pilot_note.id'], name=op.f('fk_note_answer_history_note_id_pilot_note'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_note_answer_history')),
    sa.UniqueConstraint('answer_id', 'version', name=op.f('uq_note_answer_history_answer_id_version'))
    )
    with op.batch_alter_table('note_answer_history', schema=None) as batch_op:
        batch_op.create_index('ix_note_answer_history_note', ['note_id', 'question_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('note_answer_history', schema=None) as batch_op:
        batch_op.drop_index('ix_note_answer_history_note')

    op.drop_table('note_answer_history')
    with op.batch_alter_table('note_conversation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_note_conversation_note_id'))

    op.drop_table('note_conversation')
    op.drop_table('note_answer')
    with op.batch_alter_table('pilot_note', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pilot_note_cohort_id'))

    op.drop_table('pilot_note')
