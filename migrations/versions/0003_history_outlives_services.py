"""The service history outlives what it describes: no foreign keys (an audit trail must survive
a hard delete of a service, an organization or a user); feedback goes with its service.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_constraint('fk_service_history_service_id_service', 'service_history', type_='foreignkey')
    op.drop_constraint('fk_service_history_organization_id_organization', 'service_history', type_='foreignkey')
    op.drop_constraint('fk_service_history_user_id_app_user', 'service_history', type_='foreignkey')
    op.drop_constraint('fk_feedback_service_id_service', 'feedback', type_='foreignkey')
    op.create_foreign_key('fk_feedback_service_id_service', 'feedback', 'service', ['service_id'], ['id'],
                          ondelete='CASCADE')


def downgrade():
    op.drop_constraint('fk_feedback_service_id_service', 'feedback', type_='foreignkey')
    op.create_foreign_key('fk_feedback_service_id_service', 'feedback', 'service', ['service_id'], ['id'])
    op.create_foreign_key('fk_service_history_user_id_app_user', 'service_history', 'app_user', ['user_id'], ['id'])
    op.create_foreign_key('fk_service_history_organization_id_organization', 'service_history', 'organization',
                          ['organization_id'], ['id'])
    op.create_foreign_key('fk_service_history_service_id_service', 'service_history', 'service', ['service_id'], ['id'])
