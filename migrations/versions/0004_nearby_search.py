"""Nearby search table: one narrow row per public service-at-location, with its
category keys inside the spatial GiST indexes, so a category filter keeps the KNN scan.

Before, a category filter made the planner read every service of the category (bitmap
scan on ``service.categories``) and sort them by distance: 120-220 ms at 100,000
services, seconds at 1,000,000.  Here the filter is an index condition of the same GiST
index that orders by distance.

``nearby_search`` is derived data, kept in step by statement-level triggers (transition
tables, so a 100,000-row import refreshes it in one set-based statement): a row exists
for each service-at-location of an active, undeleted service of an approved
organization.  The verification date stays a column (its cut-off moves with the date).

Category keys: each code and every ancestor (``protection.legal`` -> ``protection``,
dotted codes), as ``hashtext()`` int4 values for intarray's ``gist__int_ops``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


LOCATION_FILL_AREAS = """
CREATE OR REPLACE FUNCTION location_fill_areas() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {defer}SELECT a.code, a.country_code INTO NEW.admin_area_code, NEW.country_code
    FROM admin_area a WHERE ST_Covers(a.geom, NEW.geom) LIMIT 1;
  IF NEW.admin_area_code IS NULL THEN
    -- Natural Earth 1:10m coastlines are 1-2 km off: a shore point takes the
    -- nearest area within about 5 km.
    SELECT a.code, a.country_code INTO NEW.admin_area_code, NEW.country_code
      FROM admin_area a WHERE ST_DWithin(a.geom, NEW.geom, 0.05)
      ORDER BY ST_Distance(a.geom, NEW.geom) LIMIT 1;
  END IF;
  SELECT p.timezone INTO NEW.timezone FROM place p ORDER BY p.geom <-> NEW.geom LIMIT 1;
  RETURN NEW;
END $$
"""


def upgrade():
    op.execute("CREATE EXTENSION IF NOT EXISTS intarray")
    op.execute(
        """
        CREATE FUNCTION category_keys(codes varchar[]) RETURNS int[]
        LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
          -- Each code and its ancestors by dotted prefix, hashed for an int4[] GiST index.
          SELECT coalesce(array_agg(DISTINCT hashtext(p.prefix) ORDER BY hashtext(p.prefix)), '{}')
            FROM unnest(codes) AS c(code)
            CROSS JOIN LATERAL (
              SELECT array_to_string((string_to_array(c.code, '.'))[1:n], '.') AS prefix
                FROM generate_series(1, cardinality(string_to_array(c.code, '.'))) AS n) p
        $$
        """
    )
    op.execute(
        """
        CREATE TABLE nearby_search (
          sal_id int PRIMARY KEY,
          service_id int NOT NULL,
          public_geom geometry(Point, 4326) NOT NULL,
          category_keys int[] NOT NULL,
          populations varchar[] NOT NULL,
          languages varchar[] NOT NULL,
          last_verified date
        )
        """
    )
    op.execute(
        """
        CREATE FUNCTION refresh_nearby_search(ids int[]) RETURNS void
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
          IF cardinality(ids) > 5000 THEN
            -- A bulk write (an import) has just filled these tables in this transaction:
            -- without fresh statistics the planner joins 100,000 new rows as if they were
            -- a handful, and a plan guessed wrong costs minutes instead of a second.
            ANALYZE service;
            ANALYZE service_at_location;
            ANALYZE location;
          END IF;
          -- Dynamic SQL: planned for this call's ids (index probes for a few, hash joins
          -- for an import), never a generic plan.
          EXECUTE 'DELETE FROM nearby_search WHERE service_id = ANY($1)' USING ids;
          EXECUTE $sql$
            INSERT INTO nearby_search (sal_id, service_id, public_geom, category_keys,
                                       populations, languages, last_verified)
            SELECT sal.id, s.id, l.public_geom, category_keys(s.categories), s.populations,
                   s.languages, s.last_verified
              FROM service s
              JOIN organization o ON o.id = s.organization_id
              JOIN service_at_location sal ON sal.service_id = s.id
              JOIN location l ON l.id = sal.location_id
             WHERE s.id = ANY($1)
               AND s.status = 'active' AND s.deleted_at IS NULL AND o.status = 'approved'
          $sql$ USING ids;
        END
        $$
        """
    )
    # One trigger function per source table; each passes the touched service ids.
    sources = {
        "service": "SELECT id FROM changed",
        "service_at_location": "SELECT service_id FROM changed",
        # Only a moved public point matters (the bulk import's admin-area fill updates
        # every location it wrote, and must not refresh them all a second time).
        "location": (
            "SELECT sal.service_id FROM service_at_location sal WHERE sal.location_id IN ("
            "SELECT n.id FROM changed n JOIN previous p ON p.id = n.id "
            "WHERE n.public_geom IS DISTINCT FROM p.public_geom)"
        ),
        "organization": "SELECT s.id FROM service s WHERE s.organization_id IN (SELECT id FROM changed)",
    }
    for table, ids_sql in sources.items():
        op.execute(
            f"""
            CREATE FUNCTION nearby_search_from_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              PERFORM refresh_nearby_search(ARRAY(SELECT DISTINCT x.id FROM ({ids_sql}) AS x(id)));
              RETURN NULL;
            END $$
            """
        )
    events = [
        ("service", "UPDATE", "NEW"),
        ("service", "DELETE", "OLD"),
        ("service_at_location", "INSERT", "NEW"),
        ("service_at_location", "UPDATE", "NEW"),
        ("service_at_location", "DELETE", "OLD"),
        ("location", "UPDATE", "NEW"),
        ("organization", "UPDATE", "NEW"),
    ]
    for table, event, side in events:
        previous = " OLD TABLE AS previous" if (table, event) == ("location", "UPDATE") else ""
        op.execute(
            f"CREATE TRIGGER nearby_search_{event.lower()} AFTER {event} ON {table} "
            f"REFERENCING {side} TABLE AS changed{previous} FOR EACH STATEMENT "
            f"EXECUTE FUNCTION nearby_search_from_{table}()"
        )
    op.execute("SELECT refresh_nearby_search(ARRAY(SELECT id FROM service))")
    # The bulk import fills admin areas and timezones set-based after writing its
    # locations (services/importer.py); meanwhile the per-row trigger stands aside.
    op.execute(
        LOCATION_FILL_AREAS.replace(
            "{defer}",
            "IF current_setting('mapservice.defer_location_fill', true) = 'on' THEN\n"
            "    RETURN NEW;\n  END IF;\n  ",
        )
    )
    # Distance order (KNN) and the category filter in one index, planar for the
    # candidates, geography for the exact radius pass.
    op.execute(
        "CREATE INDEX ix_nearby_search_geom ON nearby_search "
        "USING gist (public_geom, category_keys gist__int_ops)"
    )
    op.execute(
        "CREATE INDEX ix_nearby_search_geog ON nearby_search "
        "USING gist ((public_geom::geography), category_keys gist__int_ops)"
    )
    op.execute("CREATE INDEX ix_nearby_search_service_id ON nearby_search (service_id)")


def downgrade():
    op.execute(LOCATION_FILL_AREAS.replace("{defer}", ""))
    for table, event in [
        ("service", "update"), ("service", "delete"), ("service_at_location", "insert"),
        ("service_at_location", "update"), ("service_at_location", "delete"),
        ("location", "update"), ("organization", "update"),
    ]:  # fmt: skip
        op.execute(f"DROP TRIGGER IF EXISTS nearby_search_{event} ON {table}")
    for table in ("service", "service_at_location", "location", "organization"):
        op.execute(f"DROP FUNCTION IF EXISTS nearby_search_from_{table}()")
    op.execute("DROP FUNCTION IF EXISTS refresh_nearby_search(int[])")
    op.execute("DROP TABLE IF EXISTS nearby_search")
    op.execute("DROP FUNCTION IF EXISTS category_keys(varchar[])")
