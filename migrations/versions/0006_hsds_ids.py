"""HSDS API: look services and organizations up by their published HSDS id.

The HSDS export and API name every object by a UUID 5 of a fixed namespace and our own id
(``mapservice.services.hsds.object_id``: ``uuid5(NAMESPACE, "service/12")``).  A UUID 5
cannot be turned back into the id, so ``GET /hsds/services/<uuid>`` and the
``organization_id`` filter compare ``uuid_generate_v5(...)`` (extension ``uuid-ossp``,
trusted since PostgreSQL 13) and these expression indexes make that an index lookup.  The
queries in ``mapservice/queries/hsds.py`` must use the same expressions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

NAMESPACE = "aef53e9b-a9c0-48f1-812d-c4895a44c5af"  # mapservice.services.hsds.NAMESPACE, frozen here


def upgrade():
    op.execute('CREATE EXTENSION IF NOT EXISTS "uuid-ossp"')
    op.execute(
        f"CREATE INDEX ix_service_hsds_id ON service "
        f"(uuid_generate_v5('{NAMESPACE}'::uuid, 'service/' || id::text))"
    )
    op.execute(
        f"CREATE INDEX ix_organization_hsds_id ON organization "
        f"(uuid_generate_v5('{NAMESPACE}'::uuid, 'organization/' || id::text))"
    )


def downgrade():
    op.execute("DROP INDEX IF EXISTS ix_organization_hsds_id")
    op.execute("DROP INDEX IF EXISTS ix_service_hsds_id")
