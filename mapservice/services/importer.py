"""Set-based import of listings: COPY into a staging table, validate in SQL, upsert.

A file with any invalid row is refused whole: :func:`import_listings` raises
:class:`ImportRefused` with every bad line, after the caller's transaction has been
left untouched.  Upsert key: (organization, external_id).  Re-importing identical data
changes nothing (no version bump, no new verification date).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

from mapservice.services.history import COMMAND_LINE, SNAPSHOT_DOC, SNAPSHOT_FIELDS, Actor
from mapservice.services.csvsafe import is_hxl_row, restore_formula
from mapservice.services.listings import COLUMNS, REQUIRED, Listing, load_vocabulary, parse_listing

# A point may lie this far (degrees, about 2 km) outside its country's polygon: Natural
# Earth's 1:10m coastlines and borders are 1-2 km off, and shore towns must not be refused.
COUNTRY_TOLERANCE_DEG = 0.02

# Columns the export adds that are derived from other data: accepted and ignored on import.
EXPORT_ONLY_COLUMNS = ("admin1",)

STAGING_COLUMNS = (
    "line", "organization", "external_id", "name", "description", "categories", "populations",
    "languages", "country", "address", "lat", "lon", "phone", "whatsapp", "email", "website",
    "hours", "free", "confidential", "approximate",
)  # fmt: skip
STAGING_TYPES = (
    "int4", "text", "text", "text", "text", "text[]", "text[]", "text[]", "text", "text", "float8",
    "float8", "text", "text", "text", "text", "text", "bool", "bool", "bool",
)  # fmt: skip


class ImportRefused(Exception):
    """The file was refused; ``errors`` holds one ``line N: reason`` per bad row."""

    def __init__(self, errors: list[str]):
        super().__init__(f"{len(errors)} invalid row(s)")
        self.errors = errors


@dataclass
class ImportReport:
    """What an import did (or, for a dry run, would do)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    organizations_created: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def total(self) -> int:
        """Rows in the file."""
        return self.created + self.updated + self.unchanged

    def summary(self) -> str:
        """One line for people: counts of created, updated and unchanged services."""
        verb = "would create" if self.dry_run else "created"
        orgs = (
            f"; {len(self.organizations_created)} new organization(s): "
            + ", ".join(self.organizations_created)
            if self.organizations_created
            else ""
        )
        return (
            f"{self.total} row(s): {verb} {self.created}, "
            f"{'would update' if self.dry_run else 'updated'} {self.updated}, "
            f"unchanged {self.unchanged}{orgs}"
        )


def read_listing_csv(data: bytes | str) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line, row)`` for each record of a listing CSV; the header is line 1.

    Raises :class:`ImportRefused` for an undecodable file or a header without the
    required columns.  An HXL hashtag row right under the header is skipped, columns the
    export derives (``admin1``) are ignored, and a cell the export neutralized against
    spreadsheet formulas gets its original text back.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ImportRefused([f"line 1: the file is not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    if "\x00" in data:
        raise ImportRefused(["line 1: the file contains NUL bytes; it is not a CSV text file"])
    reader = csv.reader(io.StringIO(data, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportRefused(["line 1: the file is empty"]) from None
    except csv.Error as exc:
        raise ImportRefused([f"line 1: {exc}"]) from None
    header = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ImportRefused([f"line 1: missing column(s): {', '.join(missing)}"])
    unknown = [h for h in header if h and h not in COLUMNS and h not in EXPORT_ONLY_COLUMNS]
    if unknown:
        raise ImportRefused([f"line 1: unknown column(s): {', '.join(unknown)}"])
    start = reader.line_num + 1
    first = True
    keep = [h not in EXPORT_ONLY_COLUMNS for h in header]
    plain_header = all(keep)
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportRefused([f"line {start}: {exc}"]) from None
        if first and is_hxl_row(values):
            pass  # the HXL hashtag row under the header (our export writes one)
        elif any(v.strip() for v in values):
            if len(values) > len(header):
                yield start, {"__too_many__": str(len(values))}
            elif plain_header and "\x00'" not in "\x00" + "\x00".join(values):
                yield start, dict(zip(header, values))  # no cell starts with an apostrophe
            else:
                yield start, {h: restore_formula(v) for h, v, k in zip(header, values, keep) if k}
        first = False
        start = reader.line_num + 1


def validate_rows(
    session: Session, rows: Iterable[tuple[int, Mapping[str, object]]], *, label: str = "line"
) -> list[Listing]:
    """Validate every row (fields, codes, duplicates, point in country).

    Returns the listings, or raises :class:`ImportRefused` listing every bad row as
    ``{label} N: reason`` (``line`` for a CSV, ``item`` for the index in an HSDS array).
    A row's ``approximate`` flag (an HSDS export's already generalized point) is kept in
    ``Listing.extra``.
    """
    vocab = load_vocabulary(session)
    listings: list[Listing] = []
    errors: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for line, row in rows:
        if "__too_many__" in row:
            errors.append(f"{label} {line}: {row['__too_many__']} values for fewer columns (check the quoting)")
            continue
        if "__error__" in row:  # a reader could not make a row of this record at all
            errors.append(f"{label} {line}: {row['__error__']}")
            continue
        listing, reasons = parse_listing(row, vocab, line)
        if listing is not None:
            key = (listing.organization, listing.external_id)
            if key in seen:
                reasons = [f"external_id '{listing.external_id}' repeats {label} {seen[key]}"]
                listing = None
            else:
                seen[key] = line
        if listing is None:
            errors.append(f"{label} {line}: " + "; ".join(reasons))
        else:
            if row.get("approximate") is True and listing.confidential:
                listing.extra["approximate"] = True
            listings.append(listing)
    if not listings and not errors:
        raise ImportRefused(["line 2: the file has no rows"])
    errors.extend(points_outside_country(session, listings, label=label))
    if errors:
        errors.sort(key=lambda e: int(e.split(":", 1)[0].split()[1]))
        raise ImportRefused(errors)
    return listings


def points_outside_country(session: Session, listings: list[Listing], *, label: str = "line") -> list[str]:
    """``line N: reason`` for each listing whose point is not in its declared country."""
    if not listings:
        return []
    session.execute(text("DROP TABLE IF EXISTS import_country_check"))
    session.execute(
        text("CREATE TEMP TABLE import_country_check (line int, country text, lat float8, lon float8) ON COMMIT DROP")
    )
    driver = session.connection().connection.driver_connection
    with driver.cursor() as cursor:
        with cursor.copy("COPY import_country_check (line, country, lat, lon) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(("int4", "text", "float8", "float8"))
            for x in listings:
                copy.write_row((x.line, x.country, x.lat, x.lon))
    rows = session.execute(
        text(
            """
            SELECT t.line, t.country, t.lat, t.lon,
                   EXISTS (SELECT 1 FROM country c WHERE c.code = t.country AND
                           ST_DWithin(c.geom, ST_SetSRID(ST_MakePoint(t.lat, t.lon), 4326), :tol)) AS swapped_fits,
                   (SELECT c2.name_en FROM country c2
                     WHERE ST_Intersects(c2.geom, ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326))
                     ORDER BY c2.code LIMIT 1) AS found_in
              FROM (SELECT * FROM import_country_check ORDER BY country) AS t
             -- ST_Intersects first: nearly every point is inside, and consecutive rows of
             -- one country reuse PostGIS's prepared polygon (faster than probing the
             -- subdivided parts); ST_DWithin (never prepared, ~100x slower on a 1:10m
             -- country) only for the few points near a coast.
             WHERE NOT EXISTS (SELECT 1 FROM country c WHERE c.code = t.country AND
                               ST_Intersects(c.geom, ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326)))
               AND NOT EXISTS (SELECT 1 FROM country c WHERE c.code = t.country AND
                               ST_DWithin(c.geom, ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326), :tol))
             ORDER BY t.line
            """
        ),
        {"tol": COUNTRY_TOLERANCE_DEG},
    ).all()
    session.execute(text("DROP TABLE import_country_check"))
    errors = []
    for line, country, lat, lon, swapped_fits, found_in in rows:
        reason = f"{label} {line}: the point ({lat:g}, {lon:g}) is not in {country}"
        if swapped_fits:
            reason += "; latitude and longitude look swapped"
        elif found_in:
            reason += f" (it is in {found_in})"
        errors.append(reason)
    return errors


def lift_limits_for_bulk_import(session: Session) -> None:
    """Settings for an administrator's bulk import, for the current transaction only.

    The web's statement and idle-in-transaction timeouts are lifted (a 1,000,000-row file
    validates and writes for minutes in one transaction), and sorts and hashes of the
    set-based import get memory enough not to spill to disk.
    """
    session.execute(text("SET LOCAL statement_timeout = 0"))
    session.execute(text("SET LOCAL idle_in_transaction_session_timeout = 0"))
    session.execute(text("SET LOCAL work_mem = '64MB'"))


# From this many points to place on, the areas and timezones are found by set-based spatial
# joins (each subdivided polygon probes an index on the points); below it, one index lookup
# per point is cheaper than building that index.
BULK_AREAS_MIN_POINTS = 2000


def import_listings(
    session: Session,
    listings: list[Listing],
    *,
    dry_run: bool = False,
    demo: bool = False,
    actor: Actor = COMMAND_LINE,
    bulk_areas_min_points: int = BULK_AREAS_MIN_POINTS,
) -> ImportReport:
    """Upsert validated listings by (organization, external_id) in set-based SQL.

    Organizations named in the listings that do not exist are created as approved (the
    caller is an administrator's tool or an organization's own account).  With
    ``dry_run`` the counts are computed and nothing is written.  Each created, changed or
    restored service gets a history row by ``actor``.  The caller commits.
    """
    report = ImportReport(dry_run=dry_run)
    savepoint = session.begin_nested()
    try:
        _stage(session, listings)
        report.organizations_created = list(
            session.execute(
                text(
                    "SELECT DISTINCT s.organization FROM import_staging s "
                    "WHERE NOT EXISTS (SELECT 1 FROM organization o WHERE o.name = s.organization) "
                    "ORDER BY 1"
                )
            ).scalars()
        )
        session.execute(
            text(
                """
                INSERT INTO organization (name, kind, description, status, is_demo, created_at)
                SELECT DISTINCT organization, 'cso', '', 'approved', :demo, now() FROM import_staging
                ON CONFLICT (name) DO NOTHING
                """
            ),
            {"demo": demo},
        )
        service_seq, location_seq = session.execute(
            text(
                "SELECT CAST(CAST(pg_get_serial_sequence('service', 'id') AS regclass) AS oid), "
                "CAST(CAST(pg_get_serial_sequence('location', 'id') AS regclass) AS oid)"
            )
        ).one()
        session.execute(
            text(_PLAN_SQL),
            {"write": not dry_run, "service_seq": service_seq, "location_seq": location_seq},
        )
        to_locate = 0
        for action, n, locate in session.execute(
            text("SELECT action, count(*), count(*) FILTER (WHERE locate) FROM import_rows GROUP BY action")
        ):
            setattr(report, {"create": "created", "update": "updated", "same": "unchanged"}[action], n)
            to_locate += locate
        if not dry_run:
            if to_locate >= bulk_areas_min_points:
                for statement in _AREAS_BULK_SQL:
                    session.execute(text(statement))
            else:
                session.execute(text(_AREAS_PER_POINT_SQL))
            session.execute(text(_HISTORY_BEFORE_SQL))
            for statement in _WRITE_SQL:
                session.execute(text(statement), {"demo": demo})
            who = {"uid": actor.user_id, "actor": actor.label, "via": actor.via}
            session.execute(text(_HISTORY_CREATED_SQL), who)
            session.execute(text(_HISTORY_SQL), who)
            for table in ("import_before", "import_areas", "import_points"):
                session.execute(text(f"DROP TABLE IF EXISTS {table}"))
        session.execute(text("DROP TABLE import_rows"))
        session.execute(text("DROP TABLE import_staging"))
    except BaseException:
        savepoint.rollback()
        raise
    if dry_run:
        savepoint.rollback()
    else:
        savepoint.commit()
    return report


def _stage(session: Session, listings: list[Listing]) -> None:
    """COPY the listings into a temporary staging table on the session's connection."""
    for table in ("import_staging", "import_rows", "import_points", "import_areas", "import_before"):
        session.execute(text(f"DROP TABLE IF EXISTS {table}"))
    session.execute(
        text(
            """
            CREATE TEMP TABLE import_staging (
              line int, organization text, external_id text, name text, description text,
              categories text[], populations text[], languages text[], country text,
              address text, lat float8, lon float8, phone text, whatsapp text, email text,
              website text, hours text, free bool, confidential bool,
              approximate bool DEFAULT false
            ) ON COMMIT DROP
            """
        )
    )
    driver = session.connection().connection.driver_connection
    with driver.cursor() as cursor:
        # Binary COPY: psycopg's binary dumpers cost half of the text format's in Python.
        with cursor.copy(f"COPY import_staging ({', '.join(STAGING_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(STAGING_TYPES)
            for x in listings:
                copy.write_row(
                    (
                        x.line, x.organization, x.external_id, x.name, x.description,
                        x.categories, x.populations, x.languages, x.country, x.address,
                        x.lat, x.lon, x.phone, x.whatsapp, x.email, x.website, x.hours,
                        x.free, x.confidential, bool(x.extra.get("approximate")),
                    )
                )  # fmt: skip
    # Statistics for the joins that follow (a temp table has none until analyzed): only the
    # join keys, the rest would cost more than it tells.
    session.execute(text("ANALYZE import_staging (organization, external_id)"))


# The plan of an import, one row per listing, in one pass over the staging table: ids and
# create / update / same.  A soft-deleted service that is imported again is restored (an
# update).  An HSDS export's confidential point is the public point (rounded to 6
# decimals): when it is still the stored public point, the exact point is kept
# ("keep_point"), not overwritten by it, and the stored address too (never published, so
# such a file has none).  New ids come from the sequences here (services in the file's
# order), so the writes need no RETURNING join; a dry run draws none.  "locate": the
# point's areas and timezone are to be computed (import_areas).
_PLAN_SQL = """
CREATE TEMP TABLE import_rows ON COMMIT DROP AS
WITH matched AS (
  SELECT s.*, pt.geom AS pt, o.id AS organization_id, sv.id AS existing_service_id,
         f.location_id AS existing_location_id, l.address AS stored_address,
         coalesce(s.approximate AND sv.confidential
                  AND ST_DWithin(l.public_geom, pt.geom, 0.000001), false) AS keep_point,
         sv.status = 'active' AND sv.deleted_at IS NULL AND l.id IS NOT NULL
         AND (sv.name, sv.description, sv.categories::text[], sv.populations::text[],
              sv.languages::text[], sv.phone, sv.whatsapp, sv.email, sv.website, sv.hours,
              sv.free, sv.confidential)
             IS NOT DISTINCT FROM
             (s.name, s.description, s.categories, s.populations, s.languages, s.phone,
              s.whatsapp, s.email, s.website, s.hours, s.free, s.confidential)
         AND l.declared_country = s.country AS same_service,
         sv.confidential AND l.id IS NOT NULL AS was_confidential,
         ST_Equals(l.geom, pt.geom) AS same_point
    FROM import_staging s
    JOIN organization o ON o.name = s.organization
    CROSS JOIN LATERAL (SELECT ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326) AS geom) pt
    LEFT JOIN service sv ON sv.organization_id = o.id AND sv.external_id = s.external_id
    -- The service's first location ("+ 0": found by the service_id index and sorted, not
    -- by walking the primary key until one of the service's rows turns up).
    LEFT JOIN LATERAL (
      SELECT sal.location_id FROM service_at_location sal
       WHERE sal.service_id = sv.id ORDER BY sal.id + 0 LIMIT 1) f ON true
    LEFT JOIN location l ON l.id = f.location_id
), kept AS (
  SELECT m.*, CASE WHEN m.keep_point AND m.address IS NULL THEN m.stored_address
                   ELSE m.address END AS write_address
    FROM matched m
), decided AS (
  SELECT k.*,
         CASE WHEN k.existing_service_id IS NULL THEN 'create'
              WHEN k.same_service AND k.stored_address IS NOT DISTINCT FROM k.write_address
                   AND (k.keep_point OR k.same_point) THEN 'same'
              ELSE 'update' END AS action,
         k.existing_service_id IS NOT NULL AND k.confidential AND NOT k.approximate
         AND NOT coalesce(k.was_confidential AND (k.keep_point OR k.same_point), false) AS new_public
    FROM kept k
   ORDER BY k.line
)
SELECT d.line, d.organization_id, d.external_id, d.action, d.keep_point, d.new_public,
       CASE WHEN d.action = 'create' AND :write THEN nextval(CAST(CAST(:service_seq AS oid) AS regclass))
            ELSE d.existing_service_id END AS service_id,
       d.action <> 'same' AND d.existing_location_id IS NULL AS new_location,
       CASE WHEN d.action <> 'same' AND d.existing_location_id IS NULL AND :write
            THEN nextval(CAST(CAST(:location_seq AS oid) AS regclass))
            ELSE d.existing_location_id END AS location_id,
       d.action <> 'same' AND NOT d.keep_point AS locate,
       d.name, d.description, d.categories, d.populations, d.languages, d.country,
       d.write_address AS address, d.pt, d.phone, d.whatsapp, d.email, d.website, d.hours,
       d.free, d.confidential, d.approximate
  FROM decided d
"""

# Admin area and timezone of each point to write, as location_fill_areas() computes them:
# the admin-1 area covering the point (the first by code on a shared border), else the
# nearest within about 5 km (Natural Earth coastlines are 1-2 km off); the nearest town's
# timezone.  "public_area_code" is the covering area alone (the coverage rule, migration
# 0005).  Polygons are the subdivided parts of migration 0008.
_AREAS_PER_POINT_SQL = """
CREATE TEMP TABLE import_areas ON COMMIT DROP AS
SELECT r.line, coalesce(a1.code, a2.code) AS admin_area_code,
       coalesce(a1.country_code, a2.country_code) AS area_country,
       a1.code AS public_area_code, tz.timezone
  FROM import_rows r
  LEFT JOIN LATERAL (
    SELECT a.code, a.country_code FROM admin_area_part a
     WHERE ST_Covers(a.geom, r.pt) ORDER BY a.code LIMIT 1) a1 ON true
  LEFT JOIN LATERAL (
    SELECT a.code, a.country_code FROM admin_area_part a
     WHERE a1.code IS NULL AND ST_DWithin(a.geom, r.pt, 0.05)
     ORDER BY ST_Distance(a.geom, r.pt), a.code LIMIT 1) a2 ON true
  LEFT JOIN LATERAL (
    SELECT pl.timezone FROM place pl ORDER BY pl.geom <-> r.pt LIMIT 1) tz ON true
 WHERE r.locate
"""

# The same for many points, set-based.  Each polygon part probes a GiST index on the points
# (PostGIS prepares the polygon once for all its points), instead of one polygon lookup per
# point.  The nearest town: the town whose Voronoi cell covers the point (a cell is the set
# of points nearer to its town than to any other, in the same planar distance as "<->"),
# found the same way; a point in no cell (none, in practice) falls back to the KNN lookup.
_AREAS_BULK_SQL = (
    "CREATE TEMP TABLE import_points ON COMMIT DROP AS SELECT line, pt FROM import_rows WHERE locate",
    "CREATE INDEX ON import_points USING gist (pt)",
    "ANALYZE import_points",
    """
    CREATE TEMP TABLE import_areas ON COMMIT DROP AS
    WITH covering AS (
      SELECT DISTINCT ON (p.line) p.line, a.code, a.country_code
        FROM admin_area_part a JOIN import_points p ON ST_Covers(a.geom, p.pt)
       ORDER BY p.line, a.code
    ), cells AS (
      SELECT cell.geom, (SELECT min(pl.timezone) FROM place pl
                          WHERE ST_Intersects(cell.geom, pl.geom)) AS timezone
        FROM ST_Dump(ST_VoronoiPolygons((SELECT ST_Collect(geom) FROM place))) AS cell
    ), zoned AS (
      SELECT DISTINCT ON (p.line) p.line, c.timezone
        FROM cells c JOIN import_points p ON ST_Covers(c.geom, p.pt)
       ORDER BY p.line, c.timezone
    )
    SELECT p.line, coalesce(cv.code, near.code) AS admin_area_code,
           coalesce(cv.country_code, near.country_code) AS area_country,
           cv.code AS public_area_code, coalesce(z.timezone, knn.timezone) AS timezone
      FROM import_points p
      LEFT JOIN covering cv ON cv.line = p.line
      LEFT JOIN zoned z ON z.line = p.line
      LEFT JOIN LATERAL (
        SELECT a.code, a.country_code FROM admin_area_part a
         WHERE cv.code IS NULL AND ST_DWithin(a.geom, p.pt, 0.05)
         ORDER BY ST_Distance(a.geom, p.pt), a.code LIMIT 1) near ON true
      LEFT JOIN LATERAL (
        SELECT pl.timezone FROM place pl WHERE z.timezone IS NULL
         ORDER BY pl.geom <-> p.pt LIMIT 1) knn ON true
    """,
)

_WRITE_SQL = (
    # The per-row triggers that fill a location's areas and timezone stand aside: import_areas
    # has them (transaction-local setting; reverted with the savepoint on failure).
    "SELECT set_config('mapservice.defer_location_fill', 'on', true)",
    # New services, with the ids the plan drew.
    """
    INSERT INTO service (id, organization_id, external_id, name, description, categories,
                         populations, languages, phone, whatsapp, email, website, hours,
                         free, confidential, status, is_demo, last_verified, version,
                         created_at, updated_at)
    SELECT service_id, organization_id, external_id, name, description, categories, populations,
           languages, phone, whatsapp, email, website, hours, free, confidential, 'active',
           :demo, current_date, 1, now(), now()
      FROM import_rows WHERE action = 'create'
     ORDER BY service_id
    """,
    # Changed services: new version, verified today, restored if deleted.
    """
    UPDATE service sv SET name = r.name, description = r.description,
           categories = r.categories, populations = r.populations, languages = r.languages,
           phone = r.phone, whatsapp = r.whatsapp, email = r.email, website = r.website,
           hours = r.hours, free = r.free, confidential = r.confidential, status = 'active',
           deleted_at = NULL, last_verified = current_date, version = sv.version + 1,
           updated_at = now()
      FROM import_rows r
     WHERE r.action = 'update' AND sv.id = r.service_id
    """,
    # Locations of changed services that have one.
    """
    UPDATE location l SET geom = CASE WHEN r.keep_point THEN l.geom ELSE r.pt END,
           public_geom = CASE
             WHEN r.keep_point THEN l.public_geom
             WHEN NOT r.confidential OR r.approximate THEN r.pt
             WHEN r.new_public THEN generalize_point(r.pt)
             ELSE l.public_geom END,
           address = r.address, declared_country = r.country,
           admin_area_code = CASE WHEN r.keep_point THEN l.admin_area_code ELSE a.admin_area_code END,
           country_code = CASE WHEN r.keep_point THEN l.country_code ELSE a.area_country END,
           timezone = CASE WHEN r.keep_point THEN l.timezone ELSE a.timezone END,
           public_area_code = CASE WHEN r.keep_point THEN l.public_area_code ELSE a.public_area_code END
      FROM import_rows r LEFT JOIN import_areas a ON a.line = r.line
     WHERE r.action = 'update' AND NOT r.new_location AND l.id = r.location_id
    """,
    # Locations for new services (and for any service that had none).
    """
    INSERT INTO location (id, geom, public_geom, address, declared_country, admin_area_code,
                          country_code, timezone, public_area_code)
    SELECT r.location_id, r.pt,
           CASE WHEN r.confidential AND NOT r.approximate THEN generalize_point(r.pt) ELSE r.pt END,
           r.address, r.country, a.admin_area_code, a.area_country, a.timezone, a.public_area_code
      FROM import_rows r LEFT JOIN import_areas a ON a.line = r.line
     WHERE r.new_location
     ORDER BY r.location_id
    """,
    # A changed service keeps its first location (updated above); a new location is a new
    # pair, so no conflict handling is needed.
    """
    INSERT INTO service_at_location (service_id, location_id)
    SELECT r.service_id, r.location_id FROM import_rows r
     WHERE r.new_location
     ORDER BY r.service_id
    """,
    "SELECT set_config('mapservice.defer_location_fill', 'off', true)",
)

# The history of an import, set-based: snapshots of the services to change before the write,
# then one history row per created/changed/restored service with the fields that differ.
# Each service's first location is the plan's location_id (the one SNAPSHOT_SQL takes), so
# the snapshots are plain joins.
_IMPORT_SNAPSHOT_SQL = f"""
    SELECT s.id, s.organization_id, s.version, s.status, {SNAPSHOT_DOC} AS doc
      FROM import_rows r JOIN service s ON s.id = r.service_id
      LEFT JOIN location l ON l.id = r.location_id
"""

_HISTORY_BEFORE_SQL = f"""
CREATE TEMP TABLE import_before ON COMMIT DROP AS
{_IMPORT_SNAPSHOT_SQL} WHERE r.action = 'update'
"""

# changes: {field: {"before": b, "after": a}} for each field that differs.
_HISTORY_SQL = f"""
INSERT INTO service_history (service_id, organization_id, user_id, actor, via, action, changes, version, at)
SELECT a.id, a.organization_id, :uid, :actor, :via,
       CASE WHEN b.doc->>'status' <> 'active' THEN 'restore' ELSE 'update' END,
       COALESCE((SELECT jsonb_object_agg(n.key, jsonb_build_object('before', b.doc -> n.key, 'after', n.value))
                   FROM jsonb_each(a.doc) n WHERE (b.doc -> n.key) IS DISTINCT FROM n.value), '{{}}'::jsonb),
       a.version, now()
  FROM ({_IMPORT_SNAPSHOT_SQL} WHERE r.action = 'update') a
  JOIN import_before b ON b.id = a.id
 ORDER BY a.id
"""

# A new service's changes are its fields with a value (not null, "" or []), before null.
# Written as JSON text and parsed once: a nested jsonb_build_object() per field, or a
# jsonb_each() aggregate per row, costs about twice as much on a bulk import.
_CREATED_FIELDS = ", ".join(
    f"coalesce(to_json({sql})::text, 'null') AS f{i}" for i, (_, sql) in enumerate(SNAPSHOT_FIELDS)
)
_CREATED_CHANGES = (
    "CAST('{' || substr(concat("
    + ", ".join(
        f"""CASE WHEN c.f{i} NOT IN ('null', '""', '[]') """
        f"""THEN ', "{key}": {{"before": null, "after": ' || c.f{i} || '}}' END"""  # ": null", not ":null" (a bind)
        for i, (key, _) in enumerate(SNAPSHOT_FIELDS)
    )
    + "), 2) || '}' AS jsonb)"
)
_HISTORY_CREATED_SQL = f"""
INSERT INTO service_history (service_id, organization_id, user_id, actor, via, action, changes, version, at)
SELECT c.id, c.organization_id, :uid, :actor, :via, 'create', {_CREATED_CHANGES}, c.version, now()
  FROM (SELECT s.id, s.organization_id, s.version, {_CREATED_FIELDS}
          FROM import_rows r JOIN service s ON s.id = r.service_id
          LEFT JOIN location l ON l.id = r.location_id
         WHERE r.action = 'create' OFFSET 0) c
 ORDER BY c.id
"""
