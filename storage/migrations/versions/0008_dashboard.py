"""dashboard: sign-in links and web sessions

Revision ID: 0008
Revises: 0002
Create Date: 2026-11-25 04:42:46.646525
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dashboard_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('identity_id', sa.Integer(), nullable=True),
    sa.Column('admin_account', sa.String(length=300), nullable=True),
    sa.Column('cohort_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohort.id'], name=op.f('fk_dashboard_link_cohort_id_cohort'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['identity_id'], ['platform_identity.id'], name=op.f('fk_dashboard_link_identity_id_platform_identity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dashboard_link')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_dashboard_link_token_hash'))
    )
    with op.batch_alter_table('dashboard_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dashboard_link_identity_id'), ['identity_id'], unique=False)

    op.create_table('dashboard_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('identity_id', sa.Integer(), nullable=True),
    sa.Column('admin_account', sa.String(length=300), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['identity_id'], ['platform_identity.id'], name=op.f('fk_dashboard_session_identity_id_platform_identity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dashboard_session')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_dashboard_session_secret_hash'))
    )
    with op.batch_alter_table('dashboard_session', schema=None) as batch_op:
        batch_op.create_index('ix_dashboard_session_expires', ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_dashboard_session_identity_id'), ['identity_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('dashboard_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dashboard_session_identity_id'))
        batch_op.drop_index('ix_dashboard_session_expires')

    op.drop_table('dashboard_session')
    with op.batch_alter_table('dashboard_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dashboard_link_identity_id'))

    op.drop_table('dashboard_link')
