"""Accounts: users, API tokens, append-only service history, public feedback.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('app_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=300), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('country_code', sa.String(length=2), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('session_version', sa.Integer(), nullable=False),
    sa.Column('reset_token_hash', sa.String(length=64), nullable=True),
    sa.Column('reset_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("role IN ('admin', 'cso_editor', 'ntt_viewer')", name='ck_app_user_role'),
    sa.CheckConstraint("role <> 'cso_editor' OR organization_id IS NOT NULL", name='ck_app_user_editor_has_org'),
    sa.CheckConstraint("role <> 'ntt_viewer' OR country_code IS NOT NULL", name='ck_app_user_viewer_has_country'),
    sa.ForeignKeyConstraint(['country_code'], ['country.code'], name=op.f('fk_app_user_country_code_country')),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_app_user_organization_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_user')),
    sa.UniqueConstraint('email', name=op.f('uq_app_user_email')),
    sa.UniqueConstraint('reset_token_hash', name=op.f('uq_app_user_reset_token_hash'))
    )
    op.create_index(op.f('ix_app_user_organization_id'), 'app_user', ['organization_id'], unique=False)
    op.create_table('api_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=12), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_api_token_user_id_app_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_token_token_hash'))
    )
    op.create_index(op.f('ix_api_token_user_id'), 'api_token', ['user_id'], unique=False)
    op.create_table('service_history',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=300), nullable=False),
    sa.Column('via', sa.String(length=20), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('changes', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("action IN ('create', 'update', 'delete', 'restore', 'confirm', 'import')", name='ck_service_history_action'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_service_history_organization_id_organization')),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], name=op.f('fk_service_history_service_id_service')),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_service_history_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_history'))
    )
    op.create_index(op.f('ix_service_history_organization_id'), 'service_history', ['organization_id'], unique=False)
    op.create_index(op.f('ix_service_history_service_id'), 'service_history', ['service_id'], unique=False)
    op.execute(
        """
        CREATE FUNCTION service_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'service_history is append-only';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER service_history_append_only BEFORE UPDATE OR DELETE ON service_history "
        "FOR EACH ROW EXECUTE FUNCTION service_history_append_only()"
    )
    op.create_table('feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('handled_by', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('closed', 'wrong_phone', 'wrong_place', 'other')", name='ck_feedback_kind'),
    sa.CheckConstraint("state IN ('open', 'resolved', 'dismissed')", name='ck_feedback_state'),
    sa.ForeignKeyConstraint(['handled_by'], ['app_user.id'], name=op.f('fk_feedback_handled_by_app_user')),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], name=op.f('fk_feedback_service_id_service')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback'))
    )
    op.create_index(op.f('ix_feedback_service_id'), 'feedback', ['service_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_feedback_service_id'), table_name='feedback')
    op.drop_table('feedback')
    op.execute("DROP TRIGGER IF EXISTS service_history_append_only ON service_history")
    op.execute("DROP FUNCTION IF EXISTS service_history_append_only()")
    op.drop_index(op.f('ix_service_history_service_id'), table_name='service_history')
    op.drop_index(op.f('ix_service_history_organization_id'), table_name='service_history')
    op.drop_table('service_history')
    op.drop_index(op.f('ix_api_token_user_id'), table_name='api_token')
    op.drop_table('api_token')
    op.drop_index(op.f('ix_app_user_organization_id'), table_name='app_user')
    op.drop_table('app_user')
