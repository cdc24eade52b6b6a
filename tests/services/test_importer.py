"""Listing CSV import: refusal of bad files with line numbers, idempotent upsert."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from mapservice.services.importer import (
    ImportRefused,
    ListingWriter,
    import_listings,
    read_listing_csv,
    validate_and_import,
    validate_rows,
)
from tests.queries.test_coverage_rollup import assert_rollups_right

SAMPLE = (Path(__file__).parent.parent / "data" / "listings-sample.csv").read_text(encoding="utf-8")
HEADER = SAMPLE.splitlines()[0]
GOOD_ROW = (
    'Org A,a-1,Asesoría legal,"Texto",protection.legal,refugees,es;en,MX,"Calle 1, Tapachula",'
    "14.9067,-92.2635,+52 962 625 1234,,a@example.org,https://example.org,Mo-Fr 09:00-15:00,yes,no"
)


def csv_of(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def run_import(session, data, dry_run=False):
    return import_listings(session, validate_rows(session, read_listing_csv(data)), dry_run=dry_run)


def counts(session):
    return session.execute(
        text("SELECT (SELECT count(*) FROM service), (SELECT count(*) FROM location), "
             "(SELECT count(*) FROM service_at_location), (SELECT count(*) FROM organization)")  # fmt: skip
    ).one()


def test_sample_file_imports(session):
    report = run_import(session, SAMPLE)
    assert (report.created, report.updated, report.unchanged) == (6, 0, 0)
    assert set(report.organizations_created) == {
        "Ejemplo Albergue del Sur", "Ejemplo Red de Empleo", "Ejemplo Centro Comunitario",
        "Ejemplo Fundación Formación", "Ejemplo Clínica Móvil",
    }  # fmt: skip
    row = session.execute(
        text("SELECT s.phone, l.admin_area_code, l.timezone FROM service s "
             "JOIN service_at_location sal ON sal.service_id = s.id JOIN location l ON l.id = sal.location_id "
             "WHERE s.external_id = 'ex-001'")  # fmt: skip
    ).one()
    # GeoNames puts some Chiapas towns in America/Merida: the same UTC-6 as Mexico City.
    assert row[:2] == ("+529626251234", "MX-CHP")
    assert row[2] in {"America/Mexico_City", "America/Merida"}


def test_reimport_is_a_noop(session):
    run_import(session, SAMPLE)
    before = session.execute(text("SELECT id, version, last_verified, updated_at FROM service ORDER BY id")).all()
    public_before = session.execute(text("SELECT id, ST_AsText(public_geom) FROM location ORDER BY id")).all()
    report = run_import(session, SAMPLE)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 6)
    assert session.execute(text("SELECT id, version, last_verified, updated_at FROM service ORDER BY id")).all() == before
    assert session.execute(text("SELECT id, ST_AsText(public_geom) FROM location ORDER BY id")).all() == public_before


def test_changed_row_updates_in_place(session):
    run_import(session, SAMPLE)
    n = counts(session)
    changed = SAMPLE.replace("Orientación sobre asilo", "Orientación sobre asilo y refugio")
    report = run_import(session, changed)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 5)
    assert counts(session) == n
    version = session.execute(text("SELECT version FROM service WHERE external_id = 'ex-001'")).scalar_one()
    assert version == 2


def test_dry_run_writes_nothing(session):
    before = counts(session)
    report = run_import(session, SAMPLE, dry_run=True)
    assert report.created == 6 and report.dry_run
    assert counts(session) == before


@pytest.mark.parametrize(
    "row, reason",
    [
        (GOOD_ROW.replace("14.9067,-92.2635", '"14,9067",-92.2635'), "uses a comma"),
        (GOOD_ROW.replace("protection.legal,", "protection.magic,"), "unknown category 'protection.magic'"),
        (GOOD_ROW.replace("refugees,", "aliens,"), "unknown population 'aliens'"),
        (GOOD_ROW.replace(",es;en,", ",es;xx1,"), "unknown language code 'xx1'"),
        (GOOD_ROW.replace("Asesoría legal", ""), "service_name is required"),
        (GOOD_ROW.replace("14.9067,-92.2635", "-92.2635,14.9067"), "latitude '-92.2635' is out of range"),
        (GOOD_ROW.replace("Mo-Fr 09:00-15:00", "mornings"), "opening_hours"),
        (GOOD_ROW.replace("+52 962 625 1234", "12"), "phone '12'"),
        (GOOD_ROW.replace(",yes,no", ",maybe,no"), "free must be yes or no"),
        (GOOD_ROW.replace("a@example.org", "not-an-email"), "not an e-mail address"),
    ],
)
def test_bad_field_is_reported_with_its_line(session, row, reason):
    with pytest.raises(ImportRefused) as refused:
        run_import(session, csv_of(GOOD_ROW.replace("a-1", "a-0"), row))
    assert len(refused.value.errors) == 1
    assert refused.value.errors[0].startswith("line 3: ")
    assert reason in refused.value.errors[0]


def test_swapped_coordinates_inside_range_are_caught(session):
    # Lajas Blancas (Panama) swapped: -77.77 is a valid latitude and 8.25 a valid longitude,
    # so only the point-in-country check can catch it.
    row = GOOD_ROW.replace(",MX,", ",PA,").replace("14.9067,-92.2635", "-77.7703,8.2539").replace(
        "+52 962 625 1234", "+507 222 3344"
    )
    with pytest.raises(ImportRefused) as refused:
        run_import(session, csv_of(row))
    assert refused.value.errors == [
        "line 2: the point (-77.7703, 8.2539) is not in PA; latitude and longitude look swapped"
    ]


def test_point_in_the_wrong_country(session):
    row = GOOD_ROW.replace(",MX,", ",GT,").replace("+52 962 625 1234", "+502 2222 3333")
    with pytest.raises(ImportRefused) as refused:
        run_import(session, csv_of(row))
    assert refused.value.errors == ["line 2: the point (14.9067, -92.2635) is not in GT (it is in Mexico)"]


def test_a_file_with_many_bad_rows_is_refused_whole(session):
    before = counts(session)
    data = csv_of(
        GOOD_ROW,
        GOOD_ROW.replace("a-1", "a-2").replace("14.9067", "14,9067"),
        GOOD_ROW.replace("a-1", "a-3"),
        GOOD_ROW.replace("a-1", "a-4").replace("protection.legal,", "nope,"),
        GOOD_ROW.replace("a-1", "a-5").replace(",MX,", ",GT,").replace("+52 962 625 1234", ""),
        GOOD_ROW.replace("a-1", "a-6").replace("Org A", ""),
        GOOD_ROW,
    )
    with pytest.raises(ImportRefused) as refused:
        run_import(session, data)
    lines = [e.split(":")[0] for e in refused.value.errors]
    assert lines == ["line 3", "line 5", "line 6", "line 7", "line 8"]
    assert "repeats line 2" in refused.value.errors[-1]
    assert counts(session) == before


def test_multiline_quoted_field_keeps_line_numbers(session):
    multi = GOOD_ROW.replace('"Texto"', '"Línea uno\nlínea dos"')
    bad = GOOD_ROW.replace("a-1", "a-9").replace("protection.legal,", "nope,")
    with pytest.raises(ImportRefused) as refused:
        run_import(session, csv_of(multi, bad))
    assert refused.value.errors[0].startswith("line 4: ")


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "the file is empty"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        ("organization,service_name\nA,B\n", "missing column(s): external_id, categories"),
        (HEADER + ",colour\n", "unknown column(s): colour"),
        (HEADER + "\n", "the file has no rows"),
    ],
)
def test_unreadable_files(session, data, message):
    with pytest.raises(ImportRefused) as refused:
        run_import(session, data)
    assert message in refused.value.errors[0]


def test_text_is_nfc_normalized(session):
    decomposed = GOOD_ROW.replace("Asesoría", "Asesori\u0301a")
    run_import(session, csv_of(decomposed))
    name = session.execute(text("SELECT name FROM service WHERE external_id = 'a-1'")).scalar_one()
    assert name == "Asesoría legal" and len(name) == len("Asesoría legal")


# --- derived data after a bulk import: areas, nearby_search, history -------------------
# (scoped to services above FIRST: the test database may hold committed services of others)

BULK = {"bulk_areas_min_points": 1}  # the set-based spatial path even for a small file
PER_POINT = {"bulk_areas_min_points": 10**9}


def import_file(session, data, **kwargs):
    return import_listings(session, validate_rows(session, read_listing_csv(data)), **kwargs)


def import_in_batches(session, data, **kwargs):
    """``mapservice import``'s path, in batches of 3 rows (a database thread writes them)."""
    kwargs.pop("bulk_areas_min_points", None)
    return validate_and_import(session, read_listing_csv(data), batch_rows=3, **kwargs)


IMPORTERS = pytest.mark.parametrize("importer", [import_file, import_in_batches], ids=["one-batch", "batches"])


def first_new_id(session):
    """The smallest id a service created from now on can get (history outlives deleted services,
    so ids below it may still have history rows)."""
    return session.execute(
        text("SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence('service', 'id')::regclass), 0) + 1")
    ).scalar_one()


def location_areas(session, first):
    return session.execute(
        text("SELECT s.external_id, l.admin_area_code, l.country_code, l.timezone, l.public_area_code "
             "FROM service s JOIN service_at_location sal ON sal.service_id = s.id "
             "JOIN location l ON l.id = sal.location_id WHERE s.id >= :first ORDER BY s.external_id"),
        {"first": first},
    ).all()  # fmt: skip


def areas_by_the_row_triggers(session, first):
    """What the per-row triggers compute for the stored points (they fire on a rewrite)."""
    session.execute(
        text("UPDATE location SET geom = geom, public_geom = public_geom WHERE id IN "
             "(SELECT location_id FROM service_at_location WHERE service_id >= :first)"),
        {"first": first},
    )  # fmt: skip
    return location_areas(session, first)


def nearby_rows(session, first):
    return session.execute(
        text("SELECT sal_id, service_id, ST_AsText(public_geom), category_keys, populations, languages, "
             "last_verified, organization_id, declared_country, public_area_code, doc_head, doc_tail "
             "FROM nearby_search WHERE service_id >= :first ORDER BY sal_id"),
        {"first": first},
    ).all()  # fmt: skip


def nearby_rows_expected(session, first):
    """nearby_search as its definition (migrations 0004, 0007 and 0010) derives it from the directory."""
    return session.execute(
        text("SELECT sal.id, s.id, ST_AsText(l.public_geom), category_keys(s.categories), s.populations, "
             "s.languages, s.last_verified, s.organization_id, l.declared_country, l.public_area_code, "
             "nearby_search_doc_head(s.id, s.name, o.id, o.name, s.categories), "
             "nearby_search_doc_tail(l.public_geom, s.confidential, l.address, s.phone, s.whatsapp, s.email, "
             "s.website, s.languages, s.populations, s.free, s.hours, s.last_verified, s.description, "
             "l.declared_country, s.is_demo OR o.is_demo) "
             "FROM service s JOIN organization o ON o.id = s.organization_id "
             "JOIN service_at_location sal ON sal.service_id = s.id JOIN location l ON l.id = sal.location_id "
             "WHERE s.status = 'active' AND s.deleted_at IS NULL AND o.status = 'approved' AND s.id >= :first "
             "ORDER BY sal.id"),
        {"first": first},
    ).all()  # fmt: skip


def history(session, action, first):
    return {
        r.service_id: r.changes
        for r in session.execute(
            text("SELECT service_id, changes FROM service_history WHERE action = :a AND service_id >= :first "
                 "ORDER BY id"),
            {"a": action, "first": first},
        )
    }  # fmt: skip


@pytest.mark.parametrize("paths", [BULK, PER_POINT], ids=["bulk", "per-point"])
def test_import_fills_areas_as_the_row_triggers_do(session, paths):
    first = first_new_id(session)
    import_file(session, SAMPLE, **paths)
    imported = location_areas(session, first)
    assert len(imported) == 6 and all(row[1] and row[3] for row in imported)
    assert imported == areas_by_the_row_triggers(session, first)


def test_bulk_and_per_point_areas_agree_on_generated_points(session):
    # Points spread over the seven countries (town centres of the gazetteer, some pushed
    # 0.03 degrees off, i.e. a few onto a coast or a border): both paths, same answers.
    towns = session.execute(
        text("SELECT p.country_code, ST_Y(p.geom), ST_X(p.geom) FROM place p JOIN country c "
             "ON c.code = p.country_code AND ST_DWithin(c.geom, p.geom, 0.005) ORDER BY p.id")  # fmt: skip
    ).all()[::40]
    rows = [
        f"Org A,t-{i},Servicio,,protection.legal,,es,{country},,{lat + (0.03 if i % 7 == 0 else 0):.6f},{lon:.6f},,,,,,,"
        for i, (country, lat, lon) in enumerate(towns)
    ]
    listings = validate_rows(session, read_listing_csv(csv_of(*rows)))
    first = first_new_id(session)
    savepoint = session.begin_nested()
    import_listings(session, listings, **PER_POINT)
    per_point = location_areas(session, first)
    savepoint.rollback()
    first = first_new_id(session)
    import_listings(session, listings, **BULK)
    assert location_areas(session, first) == per_point
    assert len(per_point) > 100


@IMPORTERS
def test_nearby_search_and_history_after_a_bulk_import(session, importer):
    from mapservice.services.history import SNAPSHOT_SQL

    first = first_new_id(session)
    # Coordinates whose 6-decimal rounding is a tie (rounded away from zero, as numeric does).
    extra = [
        GOOD_ROW.replace("a-1", "a-2").replace("14.9067,-92.2635", "14.9067005,-92.2635005"),
        GOOD_ROW.replace("a-1", "a-3").replace("14.9067,-92.2635", "14.90670049999,-92.26").replace(",yes,no", ",,yes"),
    ]
    report = importer(session, SAMPLE + "\n".join(extra) + "\n", **BULK)
    assert report.created == 8
    assert_rollups_right(session)
    assert nearby_rows(session, first) == nearby_rows_expected(session, first)
    assert len(nearby_rows(session, first)) == 8
    created = history(session, "create", first)
    docs = {r.id: r.doc for r in session.execute(text(SNAPSHOT_SQL + " WHERE s.id >= :first"), {"first": first})}
    assert set(created) == set(docs)
    for service_id, doc in docs.items():
        assert created[service_id] == {
            key: {"before": None, "after": value} for key, value in doc.items() if value not in (None, "", [])
        }
    # The same, compared as PostgreSQL writes it (numbers with their 6 decimals).
    differing = session.execute(
        text(f"""SELECT h.service_id FROM service_history h JOIN ({SNAPSHOT_SQL}) a ON a.id = h.service_id
                  WHERE h.action = 'create' AND h.service_id >= :first AND CAST(h.changes AS text) <> CAST((
                    SELECT jsonb_object_agg(n.key, jsonb_build_object('before', NULL::jsonb, 'after', n.value))
                      FROM jsonb_each(a.doc) n
                     WHERE n.value NOT IN ('null'::jsonb, '""'::jsonb, '[]'::jsonb)) AS text)"""),
        {"first": first},
    ).all()
    assert differing == []


@IMPORTERS
def test_nearby_documents_of_demo_imports_and_of_services_given_a_location_again(session, importer):
    first = first_new_id(session)
    importer(session, csv_of(GOOD_ROW), demo=True, **BULK)
    assert nearby_rows(session, first) == nearby_rows_expected(session, first)
    assert '"demo" : true' in nearby_rows(session, first)[0].doc_tail
    # A service without a location (its link removed) gets one again from a plain import: its
    # document keeps the service's own demo flag.
    session.execute(text("DELETE FROM service_at_location WHERE service_id >= :first"), {"first": first})
    session.execute(text("UPDATE organization SET is_demo = false WHERE name = 'Org A'"))
    assert nearby_rows(session, first) == []
    report = importer(session, csv_of(GOOD_ROW.replace("Calle 1, Tapachula", "Calle 2, Tapachula")), **BULK)
    assert report.updated == 1
    assert nearby_rows(session, first) == nearby_rows_expected(session, first)
    [row] = nearby_rows(session, first)
    assert '"demo" : true' in row.doc_tail and '"address" : "Calle 2, Tapachula"' in row.doc_tail


@IMPORTERS
def test_reimport_with_changes_keeps_derived_data_right(session, importer):
    first = first_new_id(session)
    importer(session, SAMPLE, **BULK)
    ids = dict(
        session.execute(text("SELECT external_id, id FROM service WHERE id >= :first"), {"first": first}).all()
    )
    session.execute(
        text("UPDATE service SET status = 'deleted', deleted_at = now() WHERE id = :id"), {"id": ids["ex-030"]}
    )
    changed = (
        SAMPLE.replace("Orientación sobre asilo", "Orientación legal sobre asilo")
        # ex-010 moves from San José to Limón (another province of Costa Rica)
        .replace("9.9326,-84.0775", "9.9907,-83.0360")
        .replace("livelihoods.employment;training.rights", "livelihoods.employment")
    )
    report = importer(session, changed, **BULK)
    assert (report.created, report.updated, report.unchanged) == (0, 3, 3)
    assert_rollups_right(session)
    assert nearby_rows(session, first) == nearby_rows_expected(session, first)
    assert len(nearby_rows(session, first)) == 6  # the deleted service is back
    assert location_areas(session, first) == areas_by_the_row_triggers(session, first)
    areas = {row[0]: row[1] for row in location_areas(session, first)}
    assert areas["ex-010"] == "CR-L"
    updates = history(session, "update", first)
    assert updates[ids["ex-001"]]["service_name"] == {
        "before": "Orientación sobre asilo", "after": "Orientación legal sobre asilo"
    }  # fmt: skip
    assert set(updates[ids["ex-001"]]) == {"service_name"}
    assert set(updates[ids["ex-010"]]) == {"latitude", "longitude", "categories"}
    assert updates[ids["ex-010"]]["categories"]["after"] == ["livelihoods.employment"]
    assert set(history(session, "restore", first)) == {ids["ex-030"]}
    # and importing the changed file again changes nothing
    versions = session.execute(text("SELECT id, version FROM service ORDER BY id")).all()
    n_history = session.execute(text("SELECT count(*) FROM service_history")).scalar_one()
    report = importer(session, changed, **BULK)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 6)
    assert session.execute(text("SELECT id, version FROM service ORDER BY id")).all() == versions
    assert session.execute(text("SELECT count(*) FROM service_history")).scalar_one() == n_history


# --- validate_and_import: batches validated in Python while a database thread writes ------


def add_pending_organization(session, name="Org Pending"):
    """An organization that signed up and is not approved yet: its services are not published."""
    session.execute(
        text("INSERT INTO organization (name, kind, description, status, is_demo, created_at) "
             "VALUES (:name, 'cso', '', 'pending', false, now())"),
        {"name": name},
    )  # fmt: skip


def rows_of_one_org(n, org="Org Batches"):
    return [GOOD_ROW.replace("Org A,a-1", f"{org},b-{i}") for i in range(n)]


def test_batches_write_what_one_import_writes_with_pending_orgs_and_confidential_places(session):
    first = first_new_id(session)
    add_pending_organization(session)
    rows = rows_of_one_org(4) + rows_of_one_org(3, org="Org Pending")
    rows[1] = rows[1].replace(",yes,no", ",yes,yes")  # a confidential shelter
    report = validate_and_import(session, read_listing_csv(csv_of(*rows)), batch_rows=2)
    assert (report.created, report.updated, report.unchanged) == (7, 0, 0)
    assert report.organizations_created == ["Org Batches"]
    assert nearby_rows(session, first) == nearby_rows_expected(session, first)
    assert len(nearby_rows(session, first)) == 4  # the pending organization is not published
    exact, public = session.execute(
        text("SELECT ST_AsText(l.geom), ST_AsText(l.public_geom) FROM service s "
             "JOIN service_at_location sal ON sal.service_id = s.id JOIN location l ON l.id = sal.location_id "
             "JOIN organization o ON o.id = s.organization_id "
             "WHERE s.external_id = 'b-1' AND o.name = 'Org Batches'")
    ).one()  # fmt: skip
    assert exact != public
    assert_rollups_right(session)
    assert location_areas(session, first) == areas_by_the_row_triggers(session, first)
    report = validate_and_import(session, read_listing_csv(csv_of(*rows)), batch_rows=2)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 7)


def test_bad_rows_in_any_batch_refuse_the_file_after_earlier_batches_were_written(session):
    before = counts(session)
    rows = rows_of_one_org(7)
    rows[0] = rows[0].replace("14.9067,-92.2635", "14.6349,-90.5069")  # in Guatemala: the database finds it
    rows[6] = rows[6].replace("protection.legal", "protection.nothing")  # the last batch: Python finds it
    with pytest.raises(ImportRefused) as refused:
        validate_and_import(session, read_listing_csv(csv_of(*rows)), batch_rows=2)
    assert [e.split(":")[0] for e in refused.value.errors] == ["line 2", "line 8"]
    assert "(it is in Guatemala)" in refused.value.errors[0] and "protection.nothing" in refused.value.errors[1]
    assert counts(session) == before
    # the session goes on: a good file imports after the refusal
    assert validate_and_import(session, read_listing_csv(csv_of(*rows[1:6])), batch_rows=2).created == 5


def test_a_repeated_id_in_a_later_batch_is_refused(session):
    rows = rows_of_one_org(5)
    rows.append(rows[0].replace("Asesoría legal", "Otro nombre"))
    with pytest.raises(ImportRefused) as refused:
        validate_and_import(session, read_listing_csv(csv_of(*rows)), batch_rows=2)
    assert refused.value.errors == ["line 7: external_id 'b-0' repeats line 2"]


def test_dry_run_in_batches_counts_and_writes_nothing(session):
    validate_and_import(session, read_listing_csv(csv_of(*rows_of_one_org(2))))
    before = counts(session)
    changed = [r.replace("Asesoría legal", "Asesoría jurídica") for r in rows_of_one_org(5)]
    report = validate_and_import(session, read_listing_csv(csv_of(*changed)), batch_rows=2, dry_run=True)
    assert (report.created, report.updated, report.unchanged, report.dry_run) == (3, 2, 0, True)
    assert counts(session) == before


def test_a_database_failure_in_a_batch_stops_the_import_and_writes_nothing(session, monkeypatch):
    before = counts(session)
    write = ListingWriter.write_staged
    calls = []

    def failing_write(self):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        write(self)

    monkeypatch.setattr(ListingWriter, "write_staged", failing_write)
    with pytest.raises(RuntimeError, match="went away"):
        validate_and_import(session, read_listing_csv(csv_of(*rows_of_one_org(40))), batch_rows=2)
    assert counts(session) == before
    assert len(calls) == 2  # the batches after the failure were not written


def test_a_file_without_rows_is_refused(session):
    with pytest.raises(ImportRefused) as refused:
        validate_and_import(session, read_listing_csv(HEADER + "\n"))
    assert refused.value.errors == ["line 2: the file has no rows"]


def index_definitions(session):
    return session.execute(
        text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
             "('location', 'nearby_search', 'service', 'service_at_location', 'service_history') ORDER BY indexname")
    ).all()  # fmt: skip


def empty_directory(session):
    for table in ("nearby_search", "service_at_location", "location", "service"):
        session.execute(text(f"DELETE FROM {table}"))


def test_a_first_load_builds_its_indexes_after_the_rows(session, monkeypatch):
    from mapservice.services import importer

    deferred = []
    defer = ListingWriter.defer_indexes
    monkeypatch.setattr(ListingWriter, "defer_indexes", lambda self: deferred.append(defer(self)))
    indexes = index_definitions(session)
    assert {name for name, _ in indexes} >= set(importer.DEFERRED_INDEXES)
    empty_directory(session)
    first = first_new_id(session)
    add_pending_organization(session)
    rows = rows_of_one_org(7) + rows_of_one_org(2, org="Org Pending")
    rows[1] = rows[1].replace(",yes,no", ",yes,yes")  # a confidential shelter
    rows[2] = rows[2].replace("14.9067,-92.2635", "9.9326,-84.0775").replace(",MX,", ",CR,")
    validate_and_import(session, read_listing_csv(csv_of(*rows)), batch_rows=3)
    assert deferred == [True]
    assert index_definitions(session) == indexes
    assert nearby_rows(session, first) == nearby_rows_expected(session, first)
    assert_rollups_right(session)  # counted once, at the end
    assert session.execute(text("SELECT current_setting('mapservice.defer_coverage_rollup', true)")).scalar() == "off"
    # A directory in use keeps its indexes (readers would wait for the import otherwise).
    validate_and_import(session, read_listing_csv(csv_of(*rows_of_one_org(7, org="Org Two"))), batch_rows=3)
    assert deferred == [True, False]
    assert_rollups_right(session)
    # A refused first load puts the indexes back too.
    empty_directory(session)
    bad = rows_of_one_org(7, org="Org Three")
    bad[5] = bad[5].replace("protection.legal", "protection.nothing")
    with pytest.raises(ImportRefused):
        validate_and_import(session, read_listing_csv(csv_of(*bad)), batch_rows=3)
    assert deferred == [True, False, True]
    assert index_definitions(session) == indexes


def test_text_reaches_the_database_unchanged_through_copy(session):
    from tests.factories import listing, make_services

    tricky = [
        "back\\slash", "ends with \\", "\\N", "tab\tinside", "line\nbreak", "carriage\rreturn",
        'quote " and {braces}', "comma, semicolon;", "ñandú 😀", "\\\\.",
    ]  # fmt: skip
    listings = [listing(name=t, description=t, address=t, hours=None) for t in tricky]
    ids = make_services(session, *listings)
    stored = session.execute(
        text("SELECT s.name, s.description, l.address FROM service s JOIN service_at_location sal "
             "ON sal.service_id = s.id JOIN location l ON l.id = sal.location_id WHERE s.id = ANY(:ids) ORDER BY s.id"),
        {"ids": ids},
    ).all()  # fmt: skip
    assert [tuple(r) for r in stored] == [(t, t, t) for t in tricky]
    changes = session.execute(
        text("SELECT changes FROM service_history WHERE service_id = ANY(:ids) AND action = 'create' ORDER BY service_id"),
        {"ids": ids},
    ).scalars().all()  # fmt: skip
    assert [c["service_name"]["after"] for c in changes] == tricky


def test_a_batch_creating_many_organizations_refreshes_their_statistics(session):
    from mapservice.services.importer import ANALYZE_AFTER_NEW_ORGANIZATIONS

    n = ANALYZE_AFTER_NEW_ORGANIZATIONS
    rows = [GOOD_ROW.replace("Org A,a-1", f"Org Stats {i},s-{i}") for i in range(n)]
    validate_and_import(session, read_listing_csv(csv_of(*rows)))
    reltuples, total = session.execute(
        text("SELECT reltuples, (SELECT count(*) FROM organization) FROM pg_class WHERE relname = 'organization'")
    ).one()
    assert reltuples == total >= n
