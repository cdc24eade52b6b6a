"""Set-based import of listings: validate in Python, COPY into a staging table, check the
points in SQL, upsert.

A file with any invalid row is refused whole: :func:`validate_rows` and
:func:`validate_and_import` raise :class:`ImportRefused` with every bad line, and nothing is
written.  Upsert key: (organization, external_id).  Re-importing identical data changes
nothing (no version bump, no new verification date).  ``mapservice import`` runs
:func:`validate_and_import`, which validates one batch in Python while a database thread
writes the previous one (:class:`ListingWriter`).
"""
from __future__ import annotations

import contextvars
import csv
import io
import itertools
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session, SessionTransaction, scoped_session

from mapservice.services.history import COMMAND_LINE, SNAPSHOT_DOC, Actor
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
    "hours", "free", "confidential", "approximate", "created_changes",
)  # fmt: skip
STAGING_TYPES = (
    "int", "text", "text", "text", "text", "text[]", "text[]", "text[]", "text", "text", "float8",
    "float8", "text", "text", "text", "text", "text", "bool", "bool", "bool", "text",
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


class RowValidator:
    """Validates rows in Python, chunk after chunk, remembering what it has seen.

    Each chunk's good rows are returned; every bad row's ``{label} N: reason`` is kept in
    ``errors``.  An ``external_id`` repeated within an organization is caught across
    chunks.  The point-in-country test is the database's (:func:`points_outside_country`).
    """

    def __init__(self, session: Session, *, label: str = "line"):
        self.vocab = load_vocabulary(session)
        self.label = label
        self.errors: list[str] = []
        self.valid = 0
        self._seen: dict[tuple[str, str], int] = {}

    def validate(self, rows: Iterable[tuple[int, Mapping[str, object]]]) -> list[Listing]:
        """The good listings of ``rows``; bad rows go to ``errors``."""
        label, vocab, seen, errors = self.label, self.vocab, self._seen, self.errors
        listings: list[Listing] = []
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
        self.valid += len(listings)
        return listings

    def refusal(self) -> ImportRefused | None:
        """The file's refusal (every error, by line), or ``None`` when it is good."""
        if not self.valid and not self.errors:
            return ImportRefused(["line 2: the file has no rows"])
        if self.errors:
            return ImportRefused(sorted(self.errors, key=lambda e: int(e.split(":", 1)[0].split()[1])))
        return None


def validate_rows(
    session: Session, rows: Iterable[tuple[int, Mapping[str, object]]], *, label: str = "line"
) -> list[Listing]:
    """Validate every row (fields, codes, duplicates, point in country).

    Returns the listings, or raises :class:`ImportRefused` listing every bad row as
    ``{label} N: reason`` (``line`` for a CSV, ``item`` for the index in an HSDS array).
    A row's ``approximate`` flag (an HSDS export's already generalized point) is kept in
    ``Listing.extra``.
    """
    validator = RowValidator(session, label=label)
    listings = validator.validate(rows)
    validator.errors.extend(points_outside_country(session, listings, label=label))
    refusal = validator.refusal()
    if refusal is not None:
        raise refusal
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
    errors = staged_points_outside_country(session, "import_country_check", label=label)
    session.execute(text("DROP TABLE import_country_check"))
    return errors


def staged_points_outside_country(session: Session, table: str, *, label: str = "line") -> list[str]:
    """:func:`points_outside_country` for rows already in ``table`` (line, country, lat, lon)."""
    rows = session.execute(
        text(
            f"""
            SELECT t.line, t.country, t.lat, t.lon,
                   EXISTS (SELECT 1 FROM country c WHERE c.code = t.country AND
                           ST_DWithin(c.geom, ST_SetSRID(ST_MakePoint(t.lat, t.lon), 4326), :tol)) AS swapped_fits,
                   (SELECT c2.name_en FROM country c2
                     WHERE ST_Intersects(c2.geom, ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326))
                     ORDER BY c2.code LIMIT 1) AS found_in
              FROM (SELECT line, country, lat, lon FROM {table} ORDER BY country) AS t
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
    writer = ListingWriter(session, dry_run=dry_run, demo=demo, actor=actor,
                           bulk_areas_min_points=bulk_areas_min_points)  # fmt: skip
    savepoint = session.begin_nested()
    try:
        writer.write(listings)
    except BaseException:
        savepoint.rollback()
        raise
    return _close(savepoint, writer.report)


def _close(savepoint: SessionTransaction, report: ImportReport) -> ImportReport:
    """End an import's savepoint: kept, or rolled back for a dry run; the report, sorted."""
    if report.dry_run:
        savepoint.rollback()
    else:
        savepoint.commit()
    report.organizations_created.sort()
    return report


# What ListingWriter.defer_indexes() builds after a first load instead of during it: every
# index of the tables an import fills except the keys its own statements look rows up by
# (primary keys, the upsert key, a service's links).
DEFERRED_INDEXES = (
    "ix_nearby_search_geom", "ix_nearby_search_geog", "ix_nearby_search_category_keys",
    "ix_nearby_search_service_id", "idx_location_public_geom", "ix_location_public_geog",
    "ix_location_admin_area_code", "ix_location_public_area_code", "ix_service_categories",
    "ix_service_hsds_id", "ix_service_organization_id", "ix_service_at_location_location_id",
    "ix_service_history_service_id", "ix_service_history_organization_id",
)  # fmt: skip

# A batch that creates this many organizations refreshes their statistics.
ANALYZE_AFTER_NEW_ORGANIZATIONS = 100

# Rows per batch of validate_and_import(): big enough that each batch's fixed statements
# are cheap beside its rows, small enough that the first batch's validation (when the
# database has nothing to do yet) is short.
IMPORT_BATCH_ROWS = 10_000


def validate_and_import(
    session: Session,
    rows: Iterable[tuple[int, Mapping[str, object]]],
    *,
    label: str = "line",
    dry_run: bool = False,
    demo: bool = False,
    actor: Actor = COMMAND_LINE,
    batch_rows: int = IMPORT_BATCH_ROWS,
) -> ImportReport:
    """Validate and import a whole file, the Python and the database work side by side.

    The rows are validated in batches; each good batch goes to a database thread that
    checks its points against their countries and writes it (:class:`ListingWriter`),
    while the next batch is validated.  Everything happens in one savepoint of the
    caller's transaction: at the end, any bad row anywhere refuses the whole file
    (:class:`ImportRefused` with every bad line, as :func:`validate_rows` gives) and the
    savepoint is rolled back, so nothing is written.  A dry run is rolled back too.  The
    caller commits.
    """
    if isinstance(session, scoped_session):
        session = session()  # the database thread has no scope of its own
    validator = RowValidator(session, label=label)
    writer = ListingWriter(session, dry_run=dry_run, demo=demo, actor=actor)
    outside: list[str] = []
    failed: list[BaseException] = []

    def in_database(work: Callable[..., object], *args: object) -> None:
        """Submit ``work`` to the database thread, with the app context (the session's
        engine) of this one; after a failure the queued work returns at once."""

        def run() -> None:
            if failed:
                return
            try:
                work(*args)
            except BaseException as exc:
                failed.append(exc)

        database.submit(contextvars.copy_context().run, run)

    def check_and_write(staging_rows: bytes, valid_so_far: bool) -> None:
        writer.stage(staging_rows)
        outside.extend(staged_points_outside_country(session, "import_staging", label=label))
        if valid_so_far and not outside:
            writer.write_staged()
        else:
            writer.drop_staged()

    first_batch = True
    savepoint = session.begin_nested()
    # The database thread waits for the interpreter lock each time a statement returns while
    # this thread validates: hand it over sooner than every 5 ms, or the database idles.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(min(switch_interval, 0.0005))
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-db") as database:
            try:
                for batch in _batches(rows, batch_rows):
                    if failed:
                        break
                    listings = validator.validate(batch)
                    staging_rows = writer.prepare(listings)
                    if first_batch and len(batch) == batch_rows and not dry_run:
                        # A first load of a big file: its indexes are built after it.
                        in_database(writer.defer_indexes)
                    first_batch = False
                    in_database(check_and_write, staging_rows, not validator.errors)
            except BaseException:
                failed.append(InterruptedError("import interrupted"))  # the queued batches return at once
                raise
        if failed:
            raise failed[0]
        validator.errors.extend(outside)
        refusal = validator.refusal()
        if refusal is not None:
            raise refusal
        writer.finish()
    except BaseException:
        savepoint.rollback()
        raise
    finally:
        sys.setswitchinterval(switch_interval)
    return _close(savepoint, writer.report)


def created_changes(listing: Listing, today: date) -> str:
    """The history ``changes`` of a service created from ``listing`` on ``today``, as JSON.

    Equal, as ``jsonb``, to what SNAPSHOT_DOC reads back from the written service: every
    field with a value, ``{"before": null, "after": value}``; coordinates as PostgreSQL's
    ``round(float8::numeric, 6)`` prints them (15 significant digits, then half away from
    zero, six decimals kept).
    """
    x = listing
    fields = (
        ("external_id", x.external_id), ("service_name", x.name), ("description", x.description),
        ("categories", x.categories), ("populations", x.populations), ("languages", x.languages),
        ("country", x.country), ("address", x.address), ("phone", x.phone), ("whatsapp", x.whatsapp),
        ("email", x.email), ("website", x.website), ("hours", x.hours), ("free", x.free),
        ("confidential", x.confidential), ("status", "active"), ("last_verified", today.isoformat()),
    )  # fmt: skip
    parts = [
        f'"{key}": {{"before": null, "after": {_dumps(value)}}}'
        for key, value in fields
        if value is not None and value != "" and value != []
    ]
    parts.append(f'"latitude": {{"before": null, "after": {_numeric6(x.lat)}}}')
    parts.append(f'"longitude": {{"before": null, "after": {_numeric6(x.lon)}}}')
    return "{" + ", ".join(parts) + "}"


_dumps = json.JSONEncoder(ensure_ascii=False).encode
_MICRO = Decimal("0.000001")


def _numeric6(value: float) -> str:
    rounded = Decimal(f"{value:.15g}").quantize(_MICRO, rounding=ROUND_HALF_UP)
    return str(rounded.copy_abs() if not rounded else rounded)  # numeric has no -0


def _batches(rows: Iterable[tuple[int, Mapping[str, object]]], size: int) -> Iterator[list]:
    """``rows`` in lists of ``size`` (the last one shorter)."""
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


class ListingWriter:
    """Writes validated listings in set-based SQL, one batch after another.

    The batches must share one transaction (the caller's savepoint): a later batch sees
    the organizations and services of the earlier ones.  ``report`` adds up the batches.
    """

    def __init__(self, session: Session, *, dry_run: bool = False, demo: bool = False,
                 actor: Actor = COMMAND_LINE, bulk_areas_min_points: int = BULK_AREAS_MIN_POINTS):  # fmt: skip
        self.session = session
        self.report = ImportReport(dry_run=dry_run)
        self.demo = demo
        self.who = {"uid": actor.user_id, "actor": actor.label, "via": actor.via}
        self.bulk_areas_min_points = bulk_areas_min_points
        self._sequences: dict[str, int] | None = None
        self._town_cells = False
        self._deferred_indexes: list = []
        # The transaction's date, as current_date gives it in every statement that follows.
        self.today: date = session.execute(text("SELECT current_date")).scalar_one()

    def prepare(self, listings: list[Listing]) -> bytes:
        """The listings as staging rows (COPY text format, creation history included):
        all the work of a batch that needs no database, for a caller to do in its own
        thread while the database thread writes the previous batch."""
        return "".join(_staging_row(x, self.today) for x in listings).encode()

    def defer_indexes(self) -> bool:
        """On an empty directory, drop the secondary indexes of the tables the import fills
        (DEFERRED_INDEXES), to be built once by :meth:`finish`; says whether it did.

        Building a GiST index over 100,000 points costs about half of keeping it up to
        date row by row, and a B-tree filled in random key order (a service's HSDS UUID)
        stops fitting in shared buffers long before a million rows.  The tables stay locked
        until the transaction ends, which on an empty directory keeps nobody from anything;
        on a directory in use nothing is dropped.  The savepoint's rollback puts the indexes
        back whatever happens.
        """
        session = self.session
        if session.execute(
            text("SELECT EXISTS (SELECT FROM service) OR EXISTS (SELECT FROM location) "
                 "OR EXISTS (SELECT FROM nearby_search)")  # fmt: skip
        ).scalar_one():
            return False
        self._deferred_indexes = session.execute(
            text("SELECT indexname, indexdef FROM pg_indexes "
                 "WHERE schemaname = current_schema() AND indexname = ANY(:names) ORDER BY indexname"),
            {"names": list(DEFERRED_INDEXES)},
        ).all()  # fmt: skip
        for name, _ in self._deferred_indexes:
            session.execute(text(f'DROP INDEX "{name}"'))
        # The coverage rollups too are counted once, at the end (migration 0011).
        session.execute(text("SELECT set_config('mapservice.defer_coverage_rollup', 'on', true)"))
        return True

    def finish(self) -> None:
        """Build the indexes that :meth:`defer_indexes` dropped and count the load into
        the coverage rollups, if it deferred them."""
        if self._deferred_indexes:
            self.session.execute(text("SELECT set_config('mapservice.defer_coverage_rollup', 'off', true)"))
            self.session.execute(text("SELECT coverage_rollup_add_directory()"))  # migration 0011
            self.session.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        for _, definition in self._deferred_indexes:
            self.session.execute(text(definition))
        self._deferred_indexes = []

    def write(self, listings: list[Listing]) -> None:
        """Plan and (unless a dry run) write one batch of listings."""
        self.stage(self.prepare(listings))
        self.write_staged()

    def stage(self, staging_rows: bytes) -> None:
        """COPY a batch (:meth:`prepare`) into the temporary table ``import_staging``."""
        session = self.session
        for table in ("import_staging", "import_rows", "import_points", "import_areas", "import_before"):
            session.execute(text(f"DROP TABLE IF EXISTS {table}"))
        session.execute(text(_STAGING_TABLE_SQL))
        driver = session.connection().connection.driver_connection
        with driver.cursor() as cursor:
            with cursor.copy(f"COPY import_staging ({', '.join(STAGING_COLUMNS)}) FROM STDIN") as copy:
                copy.write(staging_rows)
        # Statistics for the joins that follow (a temp table has none until analyzed): only
        # the join keys, the rest would cost more than it tells.
        session.execute(text("ANALYZE import_staging (organization, external_id)"))

    def drop_staged(self) -> None:
        """Forget the staged batch (a refused file writes nothing more)."""
        self.session.execute(text("DROP TABLE import_staging"))

    def write_staged(self) -> None:
        """Plan and (unless a dry run) write the staged batch."""
        session, report = self.session, self.report
        write = not report.dry_run
        # Only names not there yet reach the insert: ON CONFLICT alone would try (and
        # undo) an insert for every organization of every batch.
        created = session.execute(
            text(
                """
                INSERT INTO organization (name, kind, description, status, is_demo, created_at)
                SELECT DISTINCT s.organization, 'cso', '', 'approved', :demo, now() FROM import_staging s
                 WHERE NOT EXISTS (SELECT FROM organization o WHERE o.name = s.organization)
                ON CONFLICT (name) DO NOTHING
                RETURNING name
                """
            ),
            {"demo": self.demo},
        ).scalars().all()
        report.organizations_created.extend(created)
        if len(created) >= ANALYZE_AFTER_NEW_ORGANIZATIONS:
            # The nearby search refresh of changed services joins organizations by status:
            # planned with the statistics of a handful, it reads every service of all of them.
            session.execute(text("ANALYZE organization"))
        if self._sequences is None:
            self._sequences = dict(
                session.execute(
                    text(
                        "SELECT t, CAST(CAST(pg_get_serial_sequence(t, 'id') AS regclass) AS oid) "
                        "FROM unnest(ARRAY['service', 'location', 'service_at_location']) AS t"
                    )
                ).all()
            )
        seq = self._sequences
        session.execute(
            text(_PLAN_SQL),
            {"write": write, "service_seq": seq["service"], "location_seq": seq["location"],
             "link_seq": seq["service_at_location"], "first_load": bool(self._deferred_indexes)},  # fmt: skip
        )
        batch = {"create": 0, "update": 0, "same": 0, "new_location": 0, "locate": 0}
        for action, n, locate, new_location in session.execute(
            text("SELECT action, count(*), count(*) FILTER (WHERE locate), count(*) FILTER (WHERE new_location) "
                 "FROM import_rows GROUP BY action")
        ):  # fmt: skip
            batch[action] += n
            batch["locate"] += locate
            batch["new_location"] += new_location
        report.created += batch["create"]
        report.updated += batch["update"]
        report.unchanged += batch["same"]
        to_locate = batch["locate"]
        if write:
            if to_locate >= self.bulk_areas_min_points:
                if not self._town_cells:
                    session.execute(text(_TOWN_CELLS_SQL))
                    self._town_cells = True
                for statement in _AREAS_BULK_SQL:
                    session.execute(text(statement))
            else:
                session.execute(text(_AREAS_PER_POINT_SQL))
            if batch["update"]:
                session.execute(text(_HISTORY_BEFORE_SQL))
            for rows, statement in _WRITE_SQL:
                if rows is None or batch[rows]:
                    session.execute(text(statement), {"demo": self.demo})
            if batch["create"]:
                session.execute(text(_HISTORY_CREATED_SQL), self.who)
            if batch["update"]:
                session.execute(text(_HISTORY_SQL), self.who)
            for table in ("import_before", "import_areas", "import_points"):
                session.execute(text(f"DROP TABLE IF EXISTS {table}"))
        session.execute(text("DROP TABLE import_rows"))
        session.execute(text("DROP TABLE import_staging"))


_STAGING_TABLE_SQL = f"""
CREATE TEMP TABLE import_staging (
  {", ".join(f"{name} {type_}" for name, type_ in zip(STAGING_COLUMNS, STAGING_TYPES))}
) ON COMMIT DROP
"""

# COPY's text format: a backslash, tab, newline or carriage return inside a value is escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: str | None) -> str:
    if value is None:
        return "\\N"
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_COPY_ESCAPES)
    return value


def _copy_array(values: list[str]) -> str:
    """A text[] literal: every element quoted, its backslashes and quotes escaped."""
    return _copy_text(
        "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"
    )


def _staging_row(x: Listing, today: date) -> str:
    """One line of COPY text for ``import_staging`` (STAGING_COLUMNS, in order)."""
    return "\t".join(
        (
            str(x.line), _copy_text(x.organization), _copy_text(x.external_id), _copy_text(x.name),
            _copy_text(x.description), _copy_array(x.categories), _copy_array(x.populations),
            _copy_array(x.languages), _copy_text(x.country), _copy_text(x.address), repr(x.lat), repr(x.lon),
            _copy_text(x.phone), _copy_text(x.whatsapp), _copy_text(x.email), _copy_text(x.website),
            _copy_text(x.hours), "\\N" if x.free is None else "tf"[not x.free], "tf"[not x.confidential],
            "tf"[not x.extra.get("approximate")], _copy_text(created_changes(x, today)),
        )
    ) + "\n"  # fmt: skip


# The plan of an import, one row per listing, in one pass over the staging table: ids and
# create / update / same.  A soft-deleted service that is imported again is restored (an
# update).  An HSDS export's confidential point is the public point (rounded to 6
# decimals): when it is still the stored public point, the exact point is kept
# ("keep_point"), not overwritten by it, and the stored address too (never published, so
# such a file has none).  New ids come from the sequences here (services in the file's
# order; a new location's service_at_location link and public point too), so the writes
# need no RETURNING join; a dry run draws none.  "locate": the
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
    -- A first load (the directory was empty, and a file repeats no key) matches nothing:
    -- its batches skip the lookups (a million random probes of the upsert key's index).
    LEFT JOIN service sv ON NOT :first_load AND sv.organization_id = o.id AND sv.external_id = s.external_id
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
       CASE WHEN d.action <> 'same' AND d.existing_location_id IS NULL AND :write
            THEN nextval(CAST(CAST(:link_seq AS oid) AS regclass)) END AS link_id,
       CASE WHEN d.action <> 'same' AND d.existing_location_id IS NULL AND :write
            THEN CASE WHEN d.confidential AND NOT d.approximate THEN generalize_point(d.pt) ELSE d.pt END
       END AS new_public_pt,
       d.action <> 'same' AND NOT d.keep_point AS locate,
       d.name, d.description, d.categories, d.populations, d.languages, d.country,
       d.write_address AS address, d.pt, d.phone, d.whatsapp, d.email, d.website, d.hours,
       d.free, d.confidential, d.approximate, d.created_changes
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
# The cells are computed once per transaction (_TOWN_CELLS_SQL), not once per batch.
_TOWN_CELLS_SQL = """
CREATE TEMP TABLE IF NOT EXISTS import_town_cells ON COMMIT DROP AS
SELECT cell.geom, (SELECT min(pl.timezone) FROM place pl WHERE ST_Intersects(cell.geom, pl.geom)) AS timezone
  FROM ST_Dump(ST_VoronoiPolygons((SELECT ST_Collect(geom) FROM place))) AS cell
"""
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
    ), zoned AS (
      SELECT DISTINCT ON (p.line) p.line, c.timezone
        FROM import_town_cells c JOIN import_points p ON ST_Covers(c.geom, p.pt)
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

# (what a statement writes, its SQL): a statement whose rows the batch has none of is skipped
# (an UPDATE ... FROM over no rows may still be planned as a scan of the whole table).
_WRITE_SQL = (
    # The per-row triggers that fill a location's areas and timezone stand aside: import_areas
    # has them (transaction-local setting; reverted with the savepoint on failure).
    (None, "SELECT set_config('mapservice.defer_location_fill', 'on', true)"),
    # New services, with the ids the plan drew.
    ("create", """
    INSERT INTO service (id, organization_id, external_id, name, description, categories,
                         populations, languages, phone, whatsapp, email, website, hours,
                         free, confidential, status, is_demo, last_verified, version,
                         created_at, updated_at)
    SELECT service_id, organization_id, external_id, name, description, categories, populations,
           languages, phone, whatsapp, email, website, hours, free, confidential, 'active',
           :demo, current_date, 1, now(), now()
      FROM import_rows WHERE action = 'create'
     ORDER BY service_id
    """),
    # Changed services: new version, verified today, restored if deleted.
    ("update", """
    UPDATE service sv SET name = r.name, description = r.description,
           categories = r.categories, populations = r.populations, languages = r.languages,
           phone = r.phone, whatsapp = r.whatsapp, email = r.email, website = r.website,
           hours = r.hours, free = r.free, confidential = r.confidential, status = 'active',
           deleted_at = NULL, last_verified = current_date, version = sv.version + 1,
           updated_at = now()
      FROM import_rows r
     WHERE r.action = 'update' AND sv.id = r.service_id
    """),
    # Locations of changed services that have one.
    ("update", """
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
    """),
    # Locations for new services (and for any service that had none).
    ("new_location", """
    INSERT INTO location (id, geom, public_geom, address, declared_country, admin_area_code,
                          country_code, timezone, public_area_code)
    SELECT r.location_id, r.pt, r.new_public_pt,
           r.address, r.country, a.admin_area_code, a.area_country, a.timezone, a.public_area_code
      FROM import_rows r LEFT JOIN import_areas a ON a.line = r.line
     WHERE r.new_location
     ORDER BY r.location_id
    """),
    # A changed service keeps its first location (updated above); a new location is a new
    # pair, so no conflict handling is needed.  The insert trigger's refresh of the nearby
    # search stands aside (migration 0009): the next statement writes those rows from the plan.
    (None, "SELECT set_config('mapservice.defer_nearby_search', 'on', true)"),
    ("new_location", """
    INSERT INTO service_at_location (id, service_id, location_id)
    SELECT r.link_id, r.service_id, r.location_id FROM import_rows r
     WHERE r.new_location
     ORDER BY r.link_id
    """),
    (None, "SELECT set_config('mapservice.defer_nearby_search', 'off', true)"),
    # The rows refresh_nearby_search() would write for these links: every service written
    # here is active and not deleted, and only approved organizations are published.  The
    # location's values come from the plan; only a generalized point's area is the row
    # trigger's, read back by primary key (a join would scan every location of the
    # directory for each batch).
    ("new_location", """
    INSERT INTO nearby_search (sal_id, service_id, public_geom, category_keys, populations,
                               languages, last_verified, organization_id, declared_country,
                               public_area_code, doc_head, doc_tail)
    SELECT r.link_id, r.service_id, r.new_public_pt, category_keys(CAST(r.categories AS varchar[])),
           r.populations, r.languages, current_date, r.organization_id, r.country,
           CASE WHEN r.confidential AND NOT r.approximate
                THEN (SELECT l.public_area_code FROM location l WHERE l.id = r.location_id)
                ELSE a.public_area_code END,
           nearby_search_doc_head(CAST(r.service_id AS int), r.name, o.id, o.name, CAST(r.categories AS varchar[])),
           nearby_search_doc_tail(r.new_public_pt, r.confidential, r.address, r.phone, r.whatsapp, r.email,
                                  r.website, CAST(r.languages AS varchar[]), CAST(r.populations AS varchar[]),
                                  r.free, r.hours, current_date, r.description, r.country,
                                  CASE WHEN r.action = 'create' THEN :demo
                                       ELSE (SELECT s.is_demo FROM service s WHERE s.id = r.service_id) END
                                  OR o.is_demo)
      FROM import_rows r
      LEFT JOIN import_areas a ON a.line = r.line
      JOIN organization o ON o.id = r.organization_id
     WHERE r.new_location AND o.status = 'approved'
     ORDER BY r.link_id
    """),
    (None, "SELECT set_config('mapservice.defer_location_fill', 'off', true)"),
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

# A new service's changes: each field with a value (not null, "" or []), before null, as
# SNAPSHOT_DOC would give it for the service just written.  Built in Python by
# created_changes() while the database works on the previous batch, and stored from the
# plan: JSON built in SQL cost a sixth of the database's import time.
_HISTORY_CREATED_SQL = """
INSERT INTO service_history (service_id, organization_id, user_id, actor, via, action, changes, version, at)
SELECT r.service_id, r.organization_id, :uid, :actor, :via, 'create', CAST(r.created_changes AS jsonb), 1, now()
  FROM import_rows r
 WHERE r.action = 'create'
"""
