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

from mapservice.services.history import COMMAND_LINE, SNAPSHOT_SQL, Actor
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
            else:
                yield start, {
                    h: restore_formula(v) for h, v in zip(header, values) if h not in EXPORT_ONLY_COLUMNS
                }
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
    rows = session.execute(
        text(
            """
            SELECT t.line, t.country, t.lat, t.lon,
                   EXISTS (SELECT 1 FROM country c WHERE c.code = t.country AND
                           ST_DWithin(c.geom, ST_SetSRID(ST_MakePoint(t.lat, t.lon), 4326), :tol)) AS swapped_fits,
                   (SELECT c2.name_en FROM country c2
                     WHERE ST_Intersects(c2.geom, ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326))
                     LIMIT 1) AS found_in
              FROM (SELECT * FROM unnest(CAST(:lines AS int[]), CAST(:countries AS text[]),
                                         CAST(:lats AS float8[]), CAST(:lons AS float8[]))
                                  AS u(line, country, lat, lon)
                     ORDER BY country) AS t
             -- ST_Intersects first: nearly every point is inside, and consecutive rows of
             -- one country reuse PostGIS's prepared polygon; ST_DWithin (never prepared,
             -- ~100x slower on a 1:10m country) only for the few points near a coast.
             WHERE NOT EXISTS (SELECT 1 FROM country c WHERE c.code = t.country AND
                               ST_Intersects(c.geom, ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326)))
               AND NOT EXISTS (SELECT 1 FROM country c WHERE c.code = t.country AND
                               ST_DWithin(c.geom, ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326), :tol))
            """
        ),
        {
            "lines": [x.line for x in listings],
            "countries": [x.country for x in listings],
            "lats": [x.lat for x in listings],
            "lons": [x.lon for x in listings],
            "tol": COUNTRY_TOLERANCE_DEG,
        },
    ).all()
    errors = []
    for line, country, lat, lon, swapped_fits, found_in in rows:
        reason = f"{label} {line}: the point ({lat:g}, {lon:g}) is not in {country}"
        if swapped_fits:
            reason += "; latitude and longitude look swapped"
        elif found_in:
            reason += f" (it is in {found_in})"
        errors.append(reason)
    return errors


def import_listings(
    session: Session,
    listings: list[Listing],
    *,
    dry_run: bool = False,
    demo: bool = False,
    actor: Actor = COMMAND_LINE,
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
        session.execute(text(_CLASSIFY_SQL))
        counts = dict(
            session.execute(text("SELECT action, count(*) FROM import_staging GROUP BY action")).all()
        )
        report.created = counts.get("create", 0)
        report.updated = counts.get("update", 0)
        report.unchanged = counts.get("same", 0)
        if not dry_run:
            session.execute(text(_HISTORY_BEFORE_SQL))
            for statement in _WRITE_SQL:
                session.execute(text(statement), {"demo": demo})
            session.execute(text(_HISTORY_SQL), {"uid": actor.user_id, "actor": actor.label, "via": actor.via})
            session.execute(text("DROP TABLE import_before"))
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
    session.execute(text("DROP TABLE IF EXISTS import_staging"))
    session.execute(
        text(
            """
            CREATE TEMP TABLE import_staging (
              line int, organization text, external_id text, name text, description text,
              categories text[], populations text[], languages text[], country text,
              address text, lat float8, lon float8, phone text, whatsapp text, email text,
              website text, hours text, free bool, confidential bool,
              approximate bool DEFAULT false,
              organization_id int, service_id int, location_id int, action text,
              new_public bool DEFAULT false, keep_point bool DEFAULT false,
              new_location bool DEFAULT false, admin_area_code text, area_country text,
              public_area_code text,
              timezone text
            ) ON COMMIT DROP
            """
        )
    )
    driver = session.connection().connection.driver_connection
    with driver.cursor() as cursor:
        with cursor.copy(f"COPY import_staging ({', '.join(STAGING_COLUMNS)}) FROM STDIN") as copy:
            for x in listings:
                copy.write_row(
                    (
                        x.line, x.organization, x.external_id, x.name, x.description,
                        x.categories, x.populations, x.languages, x.country, x.address,
                        x.lat, x.lon, x.phone, x.whatsapp, x.email, x.website, x.hours,
                        x.free, x.confidential, bool(x.extra.get("approximate")),
                    )
                )  # fmt: skip
    # Statistics for the joins that follow (a temp table has none until analyzed).
    session.execute(text("ANALYZE import_staging"))


# Resolve ids and decide, per row, create / update / same.  A soft-deleted service that is
# imported again is restored (an update).
_CLASSIFY_SQL = """
UPDATE import_staging s SET organization_id = o.id FROM organization o WHERE o.name = s.organization;
UPDATE import_staging s SET service_id = sv.id, location_id = (
         SELECT sal.location_id FROM service_at_location sal WHERE sal.service_id = sv.id
          ORDER BY sal.id LIMIT 1)
  FROM service sv
 WHERE sv.organization_id = s.organization_id AND sv.external_id = s.external_id;
UPDATE import_staging s SET action = 'create' WHERE s.service_id IS NULL;
-- An HSDS export's confidential point is the public point (rounded to 6 decimals): when it
-- is still the stored public point, the exact point is kept, not overwritten by it.
UPDATE import_staging s SET keep_point = true
  FROM service sv, location l
 WHERE s.approximate AND sv.id = s.service_id AND l.id = s.location_id AND sv.confidential
   AND ST_DWithin(l.public_geom, ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326), 0.000001);
-- Such a file has no address for it either (never published): keep the stored one.
UPDATE import_staging s SET address = l.address
  FROM location l WHERE s.keep_point AND s.address IS NULL AND l.id = s.location_id;
UPDATE import_staging s SET action = CASE WHEN
         sv.status = 'active' AND sv.deleted_at IS NULL AND l.id IS NOT NULL
         AND (sv.name, sv.description, sv.categories::text[], sv.populations::text[],
              sv.languages::text[], sv.phone, sv.whatsapp, sv.email, sv.website, sv.hours,
              sv.free, sv.confidential)
             IS NOT DISTINCT FROM
             (s.name, s.description, s.categories, s.populations, s.languages, s.phone,
              s.whatsapp, s.email, s.website, s.hours, s.free, s.confidential)
         AND l.declared_country = s.country AND l.address IS NOT DISTINCT FROM s.address
         AND (s.keep_point OR ST_Equals(l.geom, ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326)))
       THEN 'same' ELSE 'update' END,
       new_public = s.confidential AND NOT s.approximate AND NOT (
         sv.confidential AND l.id IS NOT NULL
         AND (s.keep_point OR ST_Equals(l.geom, ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326))))
  FROM service sv LEFT JOIN location l ON l.id = (
         SELECT sal.location_id FROM service_at_location sal WHERE sal.service_id = sv.id
          ORDER BY sal.id LIMIT 1)
 WHERE sv.id = s.service_id;
"""

_WRITE_SQL = (
    # The per-row trigger that fills a location's admin area and timezone waits: the
    # set-based fill at the end does every written location in one statement
    # (transaction-local setting; reverted with the savepoint on failure).
    "SELECT set_config('mapservice.defer_location_fill', 'on', true)",
    # Admin area and timezone of each point to write, as location_fill_areas() computes
    # them: the admin-1 polygon covering the point (else the nearest within about 5 km:
    # Natural Earth coastlines are 1-2 km off) and the nearest town's timezone.  Computed
    # on the staging table, so locations are written once, complete (an UPDATE after the
    # INSERT would rewrite every row and its four spatial index entries).  Points in
    # spatial order: consecutive point-in-polygon tests reuse PostGIS's prepared polygon.
    """
    UPDATE import_staging s SET admin_area_code = f.code, area_country = f.country_code,
           timezone = f.timezone, public_area_code = f.covering_code
      FROM (
        SELECT p.row, coalesce(a1.code, a2.code) AS code, a1.code AS covering_code,
               coalesce(a1.country_code, a2.country_code) AS country_code, tz.timezone
          FROM (SELECT s2.ctid AS row, ST_SetSRID(ST_MakePoint(s2.lon, s2.lat), 4326) AS geom
                  FROM import_staging s2 WHERE s2.action <> 'same'
                 ORDER BY ST_GeoHash(ST_SetSRID(ST_MakePoint(s2.lon, s2.lat), 4326), 6)) p
          LEFT JOIN LATERAL (
            SELECT a.code, a.country_code FROM admin_area a
             WHERE ST_Covers(a.geom, p.geom) ORDER BY a.code LIMIT 1) a1 ON true
          LEFT JOIN LATERAL (
            SELECT a.code, a.country_code FROM admin_area a
             WHERE a1.code IS NULL AND ST_DWithin(a.geom, p.geom, 0.05)
             ORDER BY ST_Distance(a.geom, p.geom) LIMIT 1) a2 ON true
          LEFT JOIN LATERAL (
            SELECT pl.timezone FROM place pl ORDER BY pl.geom <-> p.geom LIMIT 1) tz ON true
      ) f
     WHERE s.ctid = f.row
    """,
    # New services.
    """
    WITH inserted AS (
      INSERT INTO service (organization_id, external_id, name, description, categories,
                           populations, languages, phone, whatsapp, email, website, hours,
                           free, confidential, status, is_demo, last_verified, version,
                           created_at, updated_at)
      SELECT organization_id, external_id, name, description, categories, populations,
             languages, phone, whatsapp, email, website, hours, free, confidential, 'active',
             :demo, current_date, 1, now(), now()
        FROM import_staging WHERE action = 'create'
       ORDER BY line  -- ids follow the file's order
      RETURNING id, organization_id, external_id)
    UPDATE import_staging s SET service_id = i.id
      FROM inserted i
     WHERE s.organization_id = i.organization_id AND s.external_id = i.external_id
    """,
    # Changed services: new version, verified today, restored if deleted.
    """
    UPDATE service sv SET name = s.name, description = s.description,
           categories = s.categories, populations = s.populations, languages = s.languages,
           phone = s.phone, whatsapp = s.whatsapp, email = s.email, website = s.website,
           hours = s.hours, free = s.free, confidential = s.confidential, status = 'active',
           deleted_at = NULL, last_verified = current_date, version = sv.version + 1,
           updated_at = now()
      FROM import_staging s
     WHERE s.action = 'update' AND sv.id = s.service_id
    """,
    # Locations of changed services that have one.
    """
    UPDATE location l SET geom = CASE WHEN s.keep_point THEN l.geom
                                      ELSE ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326) END,
           public_geom = CASE
             WHEN s.keep_point THEN l.public_geom
             WHEN NOT s.confidential OR s.approximate THEN ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326)
             WHEN s.new_public THEN generalize_point(ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326))
             ELSE l.public_geom END,
           address = s.address, declared_country = s.country,
           admin_area_code = CASE WHEN s.keep_point THEN l.admin_area_code ELSE s.admin_area_code END,
           country_code = CASE WHEN s.keep_point THEN l.country_code ELSE s.area_country END,
           timezone = CASE WHEN s.keep_point THEN l.timezone ELSE s.timezone END,
           public_area_code = CASE WHEN s.keep_point THEN l.public_area_code ELSE s.public_area_code END
      FROM import_staging s
     WHERE s.action = 'update' AND l.id = s.location_id
    """,
    # Locations for new services (and for any service that had none).
    """
    UPDATE import_staging SET location_id = nextval(pg_get_serial_sequence('location', 'id')),
           new_location = true
     WHERE action <> 'same' AND location_id IS NULL
    """,
    """
    INSERT INTO location (id, geom, public_geom, address, declared_country, admin_area_code,
                          country_code, timezone, public_area_code)
    SELECT s.location_id, p.pt,
           CASE WHEN s.confidential AND NOT s.approximate THEN generalize_point(p.pt) ELSE p.pt END,
           s.address, s.country, s.admin_area_code, s.area_country, s.timezone, s.public_area_code
      FROM import_staging s
      CROSS JOIN LATERAL (SELECT ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326) AS pt) p
     WHERE s.new_location
    """,
    """
    INSERT INTO service_at_location (service_id, location_id)
    SELECT s.service_id, s.location_id FROM import_staging s
     WHERE s.action <> 'same'
    ON CONFLICT (service_id, location_id) DO NOTHING
    """,
    "SELECT set_config('mapservice.defer_location_fill', 'off', true)",
)

# The history of an import, set-based: snapshots of the services to change before the write,
# then one history row per created/changed/restored service with the fields that differ.
_HISTORY_BEFORE_SQL = f"""
CREATE TEMP TABLE import_before ON COMMIT DROP AS
SELECT snap.id, snap.doc FROM ({SNAPSHOT_SQL}
 WHERE s.id IN (SELECT service_id FROM import_staging WHERE action = 'update')) snap
"""

_HISTORY_SQL = f"""
INSERT INTO service_history (service_id, organization_id, user_id, actor, via, action, changes, version, at)
SELECT a.id, a.organization_id, :uid, :actor, :via,
       CASE WHEN b.id IS NULL THEN 'create' WHEN b.doc->>'status' <> 'active' THEN 'restore' ELSE 'update' END,
       COALESCE((SELECT jsonb_object_agg(n.key, jsonb_build_object('before', o.value, 'after', n.value))
                   FROM jsonb_each(a.doc) n LEFT JOIN jsonb_each(b.doc) o ON o.key = n.key
                  WHERE o.value IS DISTINCT FROM n.value
                    AND (b.id IS NOT NULL OR n.value NOT IN ('null'::jsonb, '""'::jsonb, '[]'::jsonb))),
                '{{}}'::jsonb),
       a.version, now()
  FROM ({SNAPSHOT_SQL}
        WHERE s.id IN (SELECT service_id FROM import_staging WHERE action <> 'same')) a
  LEFT JOIN import_before b ON b.id = a.id
"""
