"""Coverage: the admin-1 area of each location's public point, kept by triggers.

A service counts in the area whose polygon covers its public point (``ST_Covers``); the
code is stored in ``location.public_area_code`` so coverage counts are an indexed GROUP BY
instead of a point-in-polygon test per request.  A point exactly on a border shared by two
areas counts in the one with the smaller code; a point in no polygon (at sea, abroad) has
none.  ``location.admin_area_code`` is different on purpose: it follows the private point
and falls back to the nearest area for shore points.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

AREA_OF_POINT = "(SELECT a.code FROM admin_area a WHERE ST_Covers(a.geom, {pt}) ORDER BY a.code LIMIT 1)"


def upgrade():
    op.add_column('location', sa.Column('public_area_code', sa.String(length=8), nullable=True))
    op.create_index('ix_location_public_area_code', 'location', ['public_area_code'])
    op.execute(
        f"""
        CREATE FUNCTION location_public_area() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          -- The importer computes the area of exact public points set-based (see
          -- mapservice/services/importer.py); generalized points are done here.
          IF current_setting('mapservice.defer_location_fill', true) = 'on'
             AND ST_Equals(NEW.public_geom, NEW.geom) THEN
            RETURN NEW;
          END IF;
          NEW.public_area_code := {AREA_OF_POINT.format(pt="NEW.public_geom")};
          RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER location_public_area BEFORE INSERT OR UPDATE OF public_geom ON location "
        "FOR EACH ROW EXECUTE FUNCTION location_public_area()"
    )
    # New or changed boundaries (a re-seed with new Natural Earth data) re-assign the points
    # they touch, before and after the change.
    op.execute(
        f"""
        CREATE FUNCTION admin_area_reassign_points() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          UPDATE location l SET public_area_code = {AREA_OF_POINT.format(pt="l.public_geom")}
           WHERE (TG_OP <> 'DELETE' AND l.public_geom && NEW.geom)
              OR (TG_OP <> 'INSERT' AND l.public_geom && OLD.geom);
          RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER admin_area_reassign_points AFTER INSERT OR DELETE OR UPDATE OF geom ON admin_area "
        "FOR EACH ROW EXECUTE FUNCTION admin_area_reassign_points()"
    )
    op.execute(f"UPDATE location l SET public_area_code = {AREA_OF_POINT.format(pt='l.public_geom')}")


def downgrade():
    op.execute("DROP TRIGGER IF EXISTS admin_area_reassign_points ON admin_area")
    op.execute("DROP FUNCTION IF EXISTS admin_area_reassign_points()")
    op.execute("DROP TRIGGER IF EXISTS location_public_area ON location")
    op.execute("DROP FUNCTION IF EXISTS location_public_area()")
    op.drop_index('ix_location_public_area_code', table_name='location')
    op.drop_column('location', 'public_area_code')
