"""Coverage rollups: services per (area, category, verification date), kept by triggers.

Coverage pages grouped every public service of a country per request: 0.3-1.5 s per
query at 100,000 services, seconds at 1,000,000.  Now two small tables hold the counts,
maintained set-based by statement-level triggers with transition tables on
``nearby_search`` (itself kept by triggers from the directory, migration 0004), so a
100,000-row import updates them in one statement each:

- ``coverage_count``: distinct services per (country, admin-1 area, category key,
  verification date); ``area_code = ''`` is the whole country (a service with locations
  in two areas counts once there).  Category keys are those of ``nearby_search`` (each
  code and its ancestors, ``hashtext()``), plus ``0`` for "any category".
- ``coverage_freshness``: distinct services per (country, area, organization, date).

The verification date stays a dimension because the public cut-off moves with the date;
never verified is ``-infinity`` (public, and stale).  A service counts in the area whose
polygon covers its public point (``location.public_area_code``, migration 0005); points
in no area count nowhere.

So that a deleted row's contribution is known, ``nearby_search`` gains the service's
organization, declared country and the public area of the location.  Counting distinct
services per statement is exact because ``refresh_nearby_search`` always deletes and
re-inserts every row of each service it touches.  The location trigger now also
refreshes when the public area or the declared country changes (new boundaries).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

NEVER = "'-infinity'::date"

# refresh_nearby_search() as migration 0004 wrote it, with room for more columns.
REFRESH_NEARBY_SEARCH = """
CREATE OR REPLACE FUNCTION refresh_nearby_search(ids int[]) RETURNS void
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
  -- for an import), never a generic plan.  Every row of each service is deleted and
  -- re-inserted (the coverage rollups count on it).
  EXECUTE 'DELETE FROM nearby_search WHERE service_id = ANY($1)' USING ids;
  EXECUTE $sql$
    INSERT INTO nearby_search (sal_id, service_id, public_geom, category_keys,
                               populations, languages, last_verified{columns})
    SELECT sal.id, s.id, l.public_geom, category_keys(s.categories), s.populations,
           s.languages, s.last_verified{values}
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
COVERAGE_COLUMNS = ", organization_id, declared_country, public_area_code"
COVERAGE_VALUES = ", s.organization_id, l.declared_country, l.public_area_code"

NEARBY_SEARCH_FROM_LOCATION = """
CREATE OR REPLACE FUNCTION nearby_search_from_location() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM refresh_nearby_search(ARRAY(SELECT DISTINCT x.id FROM (
    SELECT sal.service_id FROM service_at_location sal WHERE sal.location_id IN (
      SELECT n.id FROM changed n JOIN previous p ON p.id = n.id
       WHERE {changed})) AS x(id)));
  RETURN NULL;
END $$
"""
# Only what nearby_search holds matters (the bulk import's admin-area fill updates every
# location it wrote, and must not refresh them all a second time).
LOCATION_CHANGED_0004 = "n.public_geom IS DISTINCT FROM p.public_geom"
LOCATION_CHANGED = (
    "(n.public_geom, n.public_area_code, n.declared_country) "
    "IS DISTINCT FROM (p.public_geom, p.public_area_code, p.declared_country)"
)


def rollup_delta_sql(rows: str) -> list[str]:
    """Statements adding ``rows`` (``sign`` +1 or -1 and nearby_search columns) to both rollups."""
    return [
        f"""
    WITH delta AS MATERIALIZED (
      -- One unit per service and area, however many of its locations lie there.
      SELECT DISTINCT r.sign, r.service_id, r.organization_id, a.country_code, a.code AS area_code,
             r.category_keys, coalesce(r.last_verified, {NEVER}) AS last_verified
        FROM ({rows}) r JOIN admin_area a ON a.code = r.public_area_code
    ),
    -- Services with the same categories counted together before their keys are unnested;
    -- the whole-country row counts a service with locations in two areas once.
    units AS (
      SELECT country_code, area_code, category_keys, last_verified, sum(sign) AS n
        FROM delta GROUP BY 1, 2, 3, 4
      UNION ALL
      SELECT country_code, '', category_keys, last_verified, sum(sign)
        FROM (SELECT DISTINCT sign, service_id, country_code, category_keys, last_verified FROM delta) s
       GROUP BY 1, 2, 3, 4
    ),
    counted AS (
      INSERT INTO coverage_count AS c (country_code, area_code, category_key, last_verified, services)
      SELECT u.country_code, u.area_code, k.key, u.last_verified, sum(u.n)
        FROM units u CROSS JOIN LATERAL unnest(u.category_keys || 0) AS k(key)
       GROUP BY 1, 2, 3, 4
       ORDER BY 1, 3, 2, 4  -- the key's order: one lock order for concurrent writers
      ON CONFLICT (country_code, category_key, area_code, last_verified)
      DO UPDATE SET services = c.services + EXCLUDED.services
    )
    INSERT INTO coverage_freshness AS f (country_code, area_code, organization_id, last_verified, listings)
    SELECT country_code, area_code, organization_id, last_verified, sum(sign)
      FROM delta GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (country_code, area_code, organization_id, last_verified)
    DO UPDATE SET listings = f.listings + EXCLUDED.listings
    """,
        "DELETE FROM coverage_count WHERE services = 0",
        "DELETE FROM coverage_freshness WHERE listings = 0",
    ]


ROLLUP_COLUMNS = "service_id, organization_id, public_area_code, category_keys, last_verified"
TRIGGER_SOURCES = {
    "insert": ("NEW TABLE AS added", f"SELECT 1 AS sign, {ROLLUP_COLUMNS} FROM added"),
    "delete": ("OLD TABLE AS removed", f"SELECT -1 AS sign, {ROLLUP_COLUMNS} FROM removed"),
    "update": (
        "OLD TABLE AS removed NEW TABLE AS added",
        f"SELECT -1 AS sign, {ROLLUP_COLUMNS} FROM removed UNION ALL SELECT 1, {ROLLUP_COLUMNS} FROM added",
    ),
}


def upgrade():
    op.execute(
        "ALTER TABLE nearby_search ADD COLUMN organization_id int, "
        "ADD COLUMN declared_country varchar(2), ADD COLUMN public_area_code varchar(8)"
    )
    op.execute(
        """
        UPDATE nearby_search ns SET organization_id = s.organization_id,
               declared_country = l.declared_country, public_area_code = l.public_area_code
          FROM service_at_location sal
          JOIN service s ON s.id = sal.service_id
          JOIN location l ON l.id = sal.location_id
         WHERE sal.id = ns.sal_id
        """
    )
    op.execute(
        "ALTER TABLE nearby_search ALTER COLUMN organization_id SET NOT NULL, "
        "ALTER COLUMN declared_country SET NOT NULL"
    )
    # Unserved towns collect a country's services of one category: without a spatial
    # condition the GiST indexes would be read whole (0.4 s at 100,000 rows; this: 10 ms).
    op.execute("CREATE INDEX ix_nearby_search_category_keys ON nearby_search USING gin (category_keys gin__int_ops)")
    op.execute(REFRESH_NEARBY_SEARCH.format(columns=COVERAGE_COLUMNS, values=COVERAGE_VALUES))
    op.execute(NEARBY_SEARCH_FROM_LOCATION.format(changed=LOCATION_CHANGED))
    op.execute(
        """
        CREATE TABLE coverage_count (
          country_code varchar(2) NOT NULL,
          area_code varchar(8) NOT NULL,
          category_key int NOT NULL,
          last_verified date NOT NULL,
          services int NOT NULL,
          PRIMARY KEY (country_code, category_key, area_code, last_verified) INCLUDE (services)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE coverage_freshness (
          country_code varchar(2) NOT NULL,
          area_code varchar(8) NOT NULL,
          organization_id int NOT NULL,
          last_verified date NOT NULL,
          listings int NOT NULL,
          PRIMARY KEY (country_code, area_code, organization_id, last_verified) INCLUDE (listings)
        )
        """
    )
    # Freshness reads the stale rows of a country first.
    op.execute("CREATE INDEX ix_coverage_freshness_date ON coverage_freshness (country_code, last_verified)")
    # Rows that reached zero are deleted after each change: found by these, not a scan.
    op.execute("CREATE INDEX ix_coverage_count_empty ON coverage_count (country_code) WHERE services = 0")
    op.execute("CREATE INDEX ix_coverage_freshness_empty ON coverage_freshness (country_code) WHERE listings = 0")
    for statement in rollup_delta_sql(f"SELECT 1 AS sign, {ROLLUP_COLUMNS} FROM nearby_search"):
        op.execute(statement)
    for event, (referencing, rows) in TRIGGER_SOURCES.items():
        op.execute(
            f"""
            CREATE FUNCTION coverage_rollup_{event}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              {";".join(rollup_delta_sql(rows))};
              RETURN NULL;
            END $$
            """
        )
        op.execute(
            f"CREATE TRIGGER coverage_rollup_{event} AFTER {event.upper()} ON nearby_search "
            f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION coverage_rollup_{event}()"
        )
    op.execute(
        """
        CREATE FUNCTION coverage_rollup_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          TRUNCATE coverage_count, coverage_freshness;
          RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER coverage_rollup_truncate AFTER TRUNCATE ON nearby_search "
        "FOR EACH STATEMENT EXECUTE FUNCTION coverage_rollup_truncate()"
    )


def downgrade():
    for event in (*TRIGGER_SOURCES, "truncate"):
        op.execute(f"DROP TRIGGER IF EXISTS coverage_rollup_{event} ON nearby_search")
        op.execute(f"DROP FUNCTION IF EXISTS coverage_rollup_{event}()")
    op.execute("DROP TABLE IF EXISTS coverage_count")
    op.execute("DROP TABLE IF EXISTS coverage_freshness")
    op.execute(NEARBY_SEARCH_FROM_LOCATION.format(changed=LOCATION_CHANGED_0004))
    op.execute(REFRESH_NEARBY_SEARCH.format(columns="", values=""))
    op.execute("DROP INDEX IF EXISTS ix_nearby_search_category_keys")
    op.execute(
        "ALTER TABLE nearby_search DROP COLUMN organization_id, DROP COLUMN declared_country, "
        "DROP COLUMN public_area_code"
    )
