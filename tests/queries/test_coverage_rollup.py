"""The coverage rollups (migration 0007) equal a recount from the directory after every kind of write."""
from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from mapservice.queries.coverage import CoverageScope, area_counts, freshness_totals
from tests.factories import insert_raw_services, listing, make_services

NEVER = date.min  # the rollups' '-infinity'


def stored_rollups(session) -> tuple[Counter, Counter]:
    """The two rollup tables, category keys translated back to codes (``*``: any)."""
    codes = dict(session.execute(text("SELECT hashtext(code), code FROM category")).all())
    codes[0] = "*"
    counts = Counter()
    for country, area, key, verified, n in session.execute(
        text("SELECT country_code, area_code, category_key, NULLIF(last_verified, '-infinity'), services FROM coverage_count")
    ):
        counts[(country, area, codes[key], _day(verified))] = n
    fresh = Counter()
    for country, area, org, verified, n in session.execute(
        text("SELECT country_code, area_code, organization_id, NULLIF(last_verified, '-infinity'), listings FROM coverage_freshness")
    ):
        fresh[(country, area, org, _day(verified))] = n
    return counts, fresh


def _day(value) -> date:
    return NEVER if value is None else value


def recounted_rollups(session) -> tuple[Counter, Counter]:
    """The same counts computed here, in Python, from the directory tables."""
    rows = session.execute(
        text(
            """
            SELECT s.id, s.organization_id, s.categories, s.last_verified, a.country_code, a.code
              FROM service s
              JOIN organization o ON o.id = s.organization_id
              JOIN service_at_location sal ON sal.service_id = s.id
              JOIN location l ON l.id = sal.location_id
              JOIN admin_area a ON a.code = l.public_area_code
             WHERE s.status = 'active' AND s.deleted_at IS NULL AND o.status = 'approved'
            """
        )
    ).all()
    units = set()  # (service, country, area, code, day): each counted once
    fresh_units = set()
    for service_id, org, categories, verified, country, area in rows:
        day = _day(verified)
        codes = {"*"} | {".".join(c.split(".")[: i + 1]) for c in categories for i in range(c.count(".") + 1)}
        for code in codes:
            for scope in (area, ""):
                units.add((service_id, country, scope, code, day))
        fresh_units.add((service_id, country, area, org, day))
    counts = Counter((c, a, code, d) for _s, c, a, code, d in units)
    fresh = Counter((c, a, org, d) for _s, c, a, org, d in fresh_units)
    return counts, fresh


def assert_rollups_right(session):
    stored, stored_fresh = stored_rollups(session)
    expected, expected_fresh = recounted_rollups(session)
    assert stored == expected
    assert stored_fresh == expected_fresh


def _location_of(session, service_id: int) -> int:
    return session.execute(
        text("SELECT location_id FROM service_at_location WHERE service_id = :s ORDER BY id LIMIT 1"), {"s": service_id}
    ).scalar_one()


def test_rollups_follow_imports_updates_moves_and_deletes(session):
    assert_rollups_right(session)  # whatever the database holds already
    a, b, c = make_services(
        session,
        listing(categories=["protection.legal"], lat=14.9056, lon=-92.2633),  # Tapachula, Chiapas
        listing(categories=["protection.shelter", "training.language"], lat=25.6866, lon=-100.3161),  # Monterrey
        listing(categories=["livelihoods.employment"], lat=14.0818, lon=-87.2068, country="HN", confidential=True),
    )
    assert_rollups_right(session)
    legal = CoverageScope("MX", "protection.legal")
    assert {r["code"]: r["services"] for r in area_counts(session, legal)}["MX-CHP"] >= 1

    # Edits: categories, verification date (never verified, stale), status, deletion, restore.
    session.execute(text("UPDATE service SET categories = '{protection.child}' WHERE id = :id"), {"id": a})
    session.execute(text("UPDATE service SET last_verified = NULL WHERE id = :id"), {"id": b})
    session.execute(text("UPDATE service SET last_verified = current_date - 400 WHERE id = :id"), {"id": c})
    assert_rollups_right(session)
    session.execute(text("UPDATE service SET deleted_at = now() WHERE id = :id"), {"id": a})
    session.execute(text("UPDATE service SET status = 'inactive' WHERE id = :id"), {"id": b})
    assert_rollups_right(session)
    session.execute(text("UPDATE service SET deleted_at = NULL, status = 'active' WHERE id = ANY(:ids)"), {"ids": [a, b]})
    assert_rollups_right(session)

    # A move into another state, a second location (same state, then another), a removed one.
    session.execute(
        text("UPDATE location SET geom = ST_SetSRID(ST_MakePoint(-99.13, 19.43), 4326), "
             "public_geom = ST_SetSRID(ST_MakePoint(-99.13, 19.43), 4326) WHERE id = :l"),
        {"l": _location_of(session, a)},
    )  # fmt: skip
    assert_rollups_right(session)
    for lat, lon in ((25.70, -100.30), (20.67, -103.35)):  # Monterrey again, Guadalajara
        session.execute(
            text(
                "WITH l AS (INSERT INTO location (geom, public_geom, declared_country) "
                "VALUES (ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 'MX') "
                "RETURNING id) INSERT INTO service_at_location (service_id, location_id) SELECT :s, id FROM l"
            ),
            {"s": b, "lat": lat, "lon": lon},
        )
        assert_rollups_right(session)
    session.execute(
        text("DELETE FROM service_at_location WHERE service_id = :s AND location_id = :l"),
        {"s": b, "l": _location_of(session, b)},
    )
    assert_rollups_right(session)

    # The organization is suspended, then approved; a hard delete; new boundaries.
    session.execute(text("UPDATE organization SET status = 'suspended' WHERE id = (SELECT organization_id FROM service WHERE id = :s)"), {"s": c})
    assert_rollups_right(session)
    session.execute(text("UPDATE organization SET status = 'approved' WHERE id = (SELECT organization_id FROM service WHERE id = :s)"), {"s": c})
    session.execute(text("DELETE FROM service WHERE id = :s"), {"s": a})
    assert_rollups_right(session)
    session.execute(
        text("UPDATE admin_area SET geom = ST_Multi(ST_Difference(geom, ST_Buffer(ST_SetSRID(ST_MakePoint(-100.30, 25.70), 4326), 0.05))) WHERE code = 'MX-NLE'")
    )
    assert_rollups_right(session)


def test_rollups_follow_a_reimport_that_changes_rows(session):
    first = [listing(organization="Rollup Org", external_id=f"r-{i}", lat=14.90 + i / 100, lon=-92.26) for i in range(5)]
    make_services(session, *first)
    assert_rollups_right(session)
    again = [
        listing(organization="Rollup Org", external_id=f"r-{i}", lat=16.75, lon=-93.12, categories=["training"])
        for i in range(3)
    ] + [listing(organization="Rollup Org", external_id="r-new", lat=17.06, lon=-96.72, country="MX")]
    make_services(session, *again)
    assert_rollups_right(session)


def test_freshness_totals_read_the_rollup(session):
    before = freshness_totals(session, "HN", 180)
    ids = make_services(session, *[listing(country="HN", lat=14.0818, lon=-87.2068) for _ in range(3)])
    session.execute(text("UPDATE service SET last_verified = current_date - 200 WHERE id = :id"), {"id": ids[0]})
    session.execute(text("UPDATE service SET last_verified = NULL WHERE id = :id"), {"id": ids[1]})
    after = freshness_totals(session, "HN", 180)
    assert after == {"listings": before["listings"] + 3, "stale": before["stale"] + 2}


def test_no_category_code_hashes_to_the_any_key(session):
    assert session.execute(text("SELECT count(*) FROM category WHERE hashtext(code) = 0")).scalar_one() == 0


operations = st.lists(
    st.tuples(
        st.sampled_from(["insert", "recategorize", "verify_old", "unverify", "delete", "soft_delete", "move", "suspend"]),
        st.integers(0, 50),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_rollups_stay_right_under_random_writes(session, ops):
    session.begin_nested()
    try:
        ids = insert_raw_services(session, [{"lat": 14.0818, "lon": -87.2068, "country": "HN"}])
        for op, n in ops:
            target = ids[n % len(ids)]
            if op == "insert":
                ids += insert_raw_services(
                    session, [{"lat": 13.0 + n / 20, "lon": -88.5 + n / 25, "country": "HN",
                               "categories": ["protection.legal", "training"][: 1 + n % 2]}]
                )  # fmt: skip
            elif op == "recategorize":
                session.execute(text("UPDATE service SET categories = '{protection.health}' WHERE id = :id"), {"id": target})
            elif op == "verify_old":
                session.execute(text("UPDATE service SET last_verified = :d WHERE id = :id"),
                                {"id": target, "d": date.today() - timedelta(days=n * 10)})  # fmt: skip
            elif op == "unverify":
                session.execute(text("UPDATE service SET last_verified = NULL WHERE id = :id"), {"id": target})
            elif op == "delete":
                session.execute(text("DELETE FROM service WHERE id = :id"), {"id": target})
                ids.remove(target)
                if not ids:
                    ids += insert_raw_services(session, [{"lat": 15.5, "lon": -88.0, "country": "HN"}])
            elif op == "soft_delete":
                session.execute(text("UPDATE service SET deleted_at = now() WHERE id = :id"), {"id": target})
            elif op == "move":
                session.execute(
                    text("UPDATE location SET public_geom = ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) WHERE id = :l"),
                    {"l": _location_of(session, target), "lat": 13.0 + n / 20, "lon": -89.0 + n / 15},
                )
            elif op == "suspend":
                session.execute(text("UPDATE organization SET status = 'pending' WHERE id = (SELECT organization_id FROM service WHERE id = :id)"), {"id": target})
        assert_rollups_right(session)
    finally:
        session.rollback()
