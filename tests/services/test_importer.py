"""Listing CSV import: refusal of bad files with line numbers, idempotent upsert."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from mapservice.services.importer import ImportRefused, import_listings, read_listing_csv, validate_rows
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
             "last_verified FROM nearby_search WHERE service_id >= :first ORDER BY sal_id"),
        {"first": first},
    ).all()  # fmt: skip


def nearby_rows_expected(session, first):
    """nearby_search as its definition (migration 0004) derives it from the directory."""
    return session.execute(
        text("SELECT sal.id, s.id, ST_AsText(l.public_geom), category_keys(s.categories), s.populations, "
             "s.languages, s.last_verified FROM service s JOIN organization o ON o.id = s.organization_id "
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


def test_nearby_search_and_history_after_a_bulk_import(session):
    from mapservice.services.history import SNAPSHOT_SQL

    first = first_new_id(session)
    # Coordinates whose 6-decimal rounding is a tie (rounded away from zero, as numeric does).
    extra = [
        GOOD_ROW.replace("a-1", "a-2").replace("14.9067,-92.2635", "14.9067005,-92.2635005"),
        GOOD_ROW.replace("a-1", "a-3").replace("14.9067,-92.2635", "14.90670049999,-92.26").replace(",yes,no", ",,yes"),
    ]
    report = import_file(session, SAMPLE + "\n".join(extra) + "\n", **BULK)
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


def test_reimport_with_changes_keeps_derived_data_right(session):
    first = first_new_id(session)
    import_file(session, SAMPLE, **BULK)
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
    report = import_file(session, changed, **BULK)
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
    report = import_file(session, changed, **BULK)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 6)
    assert session.execute(text("SELECT id, version FROM service ORDER BY id")).all() == versions
    assert session.execute(text("SELECT count(*) FROM service_history")).scalar_one() == n_history
