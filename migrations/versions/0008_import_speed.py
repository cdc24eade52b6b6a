"""Import speed: subdivided boundary polygons, a cheaper category_keys(), per-row location
triggers that are not called while the bulk import fills locations itself.

- ``admin_area_part``: each admin-1 area cut by ``ST_Subdivide`` into polygons of at most
  64 vertices, with a GiST index.  A
  point-in-polygon test against a small part is about a hundred times cheaper than against
  a whole Natural Earth polygon, and the union of the parts is the polygon, so "covered by
  the area" = "covered by one of its parts", and the distance to an area = the smallest
  distance to its parts.  Kept in step with ``admin_area`` by statement-level triggers (the
  seed's upserts change nothing when the boundaries are unchanged).
- ``category_keys()`` in PL/pgSQL: the same keys (each code and its dotted ancestors,
  ``hashtext()``, sorted, distinct), about 4x cheaper than the SQL aggregate; the nearby
  search refresh of a 100,000-row import computed it for ~2 s.
- ``location_fill_areas`` / ``location_public_area``: the "stand aside while the bulk import
  fills the areas" test moves into the triggers' WHEN clause, so the import's INSERT no
  longer calls two PL/pgSQL functions per row to return at once; both look areas up in
  ``admin_area_part``.
- ``refresh_nearby_search()``: before a bulk refresh it analyzes only the columns its join
  uses (the row counts are what the planner was missing); the whole-table ANALYZE of
  ``location`` computed geometry statistics of 100,000 points for nothing (~1.5 s of a
  100,000-row import).  Autovacuum analyzes the rest after the commit.
- ``idx_location_geom`` is dropped: no query searches the exact (private) point; every
  spatial search uses ``public_geom`` (its two indexes stay).  One GiST index less to keep
  on every location write.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

PART_VERTICES = 64

DEFERRED = "current_setting('mapservice.defer_location_fill', true) = 'on'"

CATEGORY_KEYS_PLPGSQL = """
CREATE OR REPLACE FUNCTION category_keys(codes varchar[]) RETURNS int[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE STRICT AS $$
-- Each code and its ancestors by dotted prefix, hashed for an int4[] GiST index; sorted,
-- without duplicates ('{}' for no codes).
DECLARE
  keys int[] := '{}';
  code text;
  part text;
  prefix text;
BEGIN
  FOREACH code IN ARRAY codes LOOP
    prefix := NULL;
    FOREACH part IN ARRAY string_to_array(code, '.') LOOP
      prefix := CASE WHEN prefix IS NULL THEN part ELSE prefix || '.' || part END;
      keys := keys || hashtext(prefix);
    END LOOP;
  END LOOP;
  RETURN uniq(sort(keys));
END $$
"""

CATEGORY_KEYS_SQL = """
CREATE OR REPLACE FUNCTION category_keys(codes varchar[]) RETURNS int[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
  SELECT coalesce(array_agg(DISTINCT hashtext(p.prefix) ORDER BY hashtext(p.prefix)), '{}')
    FROM unnest(codes) AS c(code)
    CROSS JOIN LATERAL (
      SELECT array_to_string((string_to_array(c.code, '.'))[1:n], '.') AS prefix
        FROM generate_series(1, cardinality(string_to_array(c.code, '.'))) AS n) p
$$
"""

LOCATION_FILL_AREAS = """
CREATE OR REPLACE FUNCTION location_fill_areas() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT a.code, a.country_code INTO NEW.admin_area_code, NEW.country_code
    FROM admin_area_part a WHERE ST_Covers(a.geom, NEW.geom) ORDER BY a.code LIMIT 1;
  IF NEW.admin_area_code IS NULL THEN
    -- Natural Earth 1:10m coastlines are 1-2 km off: a shore point takes the
    -- nearest area within about 5 km.
    SELECT a.code, a.country_code INTO NEW.admin_area_code, NEW.country_code
      FROM admin_area_part a WHERE ST_DWithin(a.geom, NEW.geom, 0.05)
      ORDER BY ST_Distance(a.geom, NEW.geom), a.code LIMIT 1;
  END IF;
  SELECT p.timezone INTO NEW.timezone FROM place p ORDER BY p.geom <-> NEW.geom LIMIT 1;
  RETURN NEW;
END $$
"""

LOCATION_PUBLIC_AREA = """
CREATE OR REPLACE FUNCTION location_public_area() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.public_area_code := (SELECT a.code FROM admin_area_part a
                            WHERE ST_Covers(a.geom, NEW.public_geom) ORDER BY a.code LIMIT 1);
  RETURN NEW;
END $$
"""


# refresh_nearby_search() as the migrations before this one left it, with only its ANALYZE
# statements changed: the row counts and the join columns' statistics are what the planner
# needs (ANALYZE with a column list still counts the table's rows).
ANALYZE_TABLES = ("ANALYZE service;", "ANALYZE service_at_location;", "ANALYZE location;")
ANALYZE_JOIN_COLUMNS = (
    "ANALYZE service (id, organization_id, status, deleted_at);",
    "ANALYZE service_at_location (service_id, location_id);",
    "ANALYZE location (id);",
)


def _swap_refresh_analyze(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    """Replace ``old`` ANALYZE statements by ``new`` in refresh_nearby_search()."""
    bind = op.get_bind()
    definition = bind.exec_driver_sql(
        "SELECT pg_get_functiondef('refresh_nearby_search(int[])'::regprocedure)"
    ).scalar_one()
    for before, after in zip(old, new):
        if before not in definition:
            raise RuntimeError(f"refresh_nearby_search() has no '{before}' any more")
        definition = definition.replace(before, after)
    bind.exec_driver_sql(definition)


def _parts(table: str, key_columns: str) -> None:
    """A subdivided copy of ``table``'s polygons, kept by statement-level triggers."""
    op.execute(
        f"""
        CREATE FUNCTION {table}_parts_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP IN ('UPDATE', 'DELETE') THEN
            DELETE FROM {table}_part WHERE code IN (SELECT code FROM old_rows);
          END IF;
          IF TG_OP IN ('UPDATE', 'INSERT') THEN
            DELETE FROM {table}_part WHERE code IN (SELECT code FROM new_rows);
            INSERT INTO {table}_part ({key_columns}, geom)
            SELECT {key_columns}, ST_Subdivide(geom, {PART_VERTICES}) FROM new_rows;
          END IF;
          RETURN NULL;
        END $$
        """
    )
    for event, referencing in (
        ("INSERT", "NEW TABLE AS new_rows"),
        ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        ("DELETE", "OLD TABLE AS old_rows"),
    ):
        op.execute(
            f"CREATE TRIGGER {table}_parts_{event.lower()} AFTER {event} ON {table} "
            f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {table}_parts_refresh()"
        )
    op.execute(
        f"INSERT INTO {table}_part ({key_columns}, geom) "
        f"SELECT {key_columns}, ST_Subdivide(geom, {PART_VERTICES}) FROM {table}"
    )


def upgrade():
    op.create_geospatial_table(
        "admin_area_part",
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("geom", Geometry(geometry_type="POLYGON", srid=4326, spatial_index=False), nullable=False),
    )
    op.create_geospatial_index(
        "idx_admin_area_part_geom", "admin_area_part", ["geom"], postgresql_using="gist", postgresql_ops={}
    )
    op.create_index("ix_admin_area_part_code", "admin_area_part", ["code"])
    _parts("admin_area", "code, country_code")

    op.execute(CATEGORY_KEYS_PLPGSQL)
    _swap_refresh_analyze(ANALYZE_TABLES, ANALYZE_JOIN_COLUMNS)
    op.drop_geospatial_index("idx_location_geom", table_name="location", postgresql_using="gist", column_name="geom")

    op.execute(LOCATION_FILL_AREAS)
    op.execute(LOCATION_PUBLIC_AREA)
    op.execute("DROP TRIGGER location_fill_areas ON location")
    op.execute(
        "CREATE TRIGGER location_fill_areas BEFORE INSERT OR UPDATE OF geom ON location "
        f"FOR EACH ROW WHEN (NOT coalesce({DEFERRED}, false)) EXECUTE FUNCTION location_fill_areas()"
    )
    # The importer computes the area of exact public points set-based; generalized points
    # (confidential services) are done here.
    op.execute("DROP TRIGGER location_public_area ON location")
    op.execute(
        "CREATE TRIGGER location_public_area BEFORE INSERT OR UPDATE OF public_geom ON location "
        f"FOR EACH ROW WHEN (NOT (coalesce({DEFERRED}, false) AND ST_Equals(NEW.public_geom, NEW.geom))) "
        "EXECUTE FUNCTION location_public_area()"
    )


def downgrade():
    op.create_geospatial_index("idx_location_geom", "location", ["geom"], postgresql_using="gist", postgresql_ops={})
    _swap_refresh_analyze(ANALYZE_JOIN_COLUMNS, ANALYZE_TABLES)
    op.execute("DROP TRIGGER location_public_area ON location")
    op.execute(
        """
        CREATE OR REPLACE FUNCTION location_public_area() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF current_setting('mapservice.defer_location_fill', true) = 'on'
             AND ST_Equals(NEW.public_geom, NEW.geom) THEN
            RETURN NEW;
          END IF;
          NEW.public_area_code := (SELECT a.code FROM admin_area a
                                    WHERE ST_Covers(a.geom, NEW.public_geom) ORDER BY a.code LIMIT 1);
          RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER location_public_area BEFORE INSERT OR UPDATE OF public_geom ON location "
        "FOR EACH ROW EXECUTE FUNCTION location_public_area()"
    )
    op.execute("DROP TRIGGER location_fill_areas ON location")
    op.execute(
        """
        CREATE OR REPLACE FUNCTION location_fill_areas() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF current_setting('mapservice.defer_location_fill', true) = 'on' THEN
            RETURN NEW;
          END IF;
          SELECT a.code, a.country_code INTO NEW.admin_area_code, NEW.country_code
            FROM admin_area a WHERE ST_Covers(a.geom, NEW.geom) LIMIT 1;
          IF NEW.admin_area_code IS NULL THEN
            SELECT a.code, a.country_code INTO NEW.admin_area_code, NEW.country_code
              FROM admin_area a WHERE ST_DWithin(a.geom, NEW.geom, 0.05)
              ORDER BY ST_Distance(a.geom, NEW.geom) LIMIT 1;
          END IF;
          SELECT p.timezone INTO NEW.timezone FROM place p ORDER BY p.geom <-> NEW.geom LIMIT 1;
          RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER location_fill_areas BEFORE INSERT OR UPDATE OF geom ON location "
        "FOR EACH ROW EXECUTE FUNCTION location_fill_areas()"
    )
    op.execute(CATEGORY_KEYS_SQL)
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS admin_area_parts_{event} ON admin_area")
    op.execute("DROP FUNCTION IF EXISTS admin_area_parts_refresh()")
    op.drop_geospatial_index(
        "idx_admin_area_part_geom", table_name="admin_area_part", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("admin_area_part")
