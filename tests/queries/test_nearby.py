"""Nearby search agrees with a brute-force geodesic oracle (pyproj's Geod on WGS84)."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod

from sqlalchemy import text

from mapservice.queries.services import (
    CANDIDATE_FACTOR,
    NearbyFilters,
    _planar_reach_sql,
    nearest_services,
    nearest_services_json,
    nearest_services_sql,
    planar_reach_degrees,
    service_json,
)
from mapservice.services.importer import import_listings
from tests.factories import listing

GEOD = Geod(ellps="WGS84")
CATEGORIES = ["protection.legal", "protection.shelter", "livelihoods.employment", "training.language"]

# Points over the MIRPS region (southern Mexico to Panama); the directory query does not
# check countries, the importer's validation does.
lat_st = st.floats(min_value=7.5, max_value=21.0, allow_nan=False)
lon_st = st.floats(min_value=-100.0, max_value=-77.5, allow_nan=False)
service_st = st.tuples(lat_st, lon_st, st.sampled_from(CATEGORIES), st.booleans())


def brute_force(services, lat, lon, category=None, radius_km=None):
    """Sorted (distance_km, index) of every matching service."""
    out = []
    for i, (slat, slon, cat, _conf) in enumerate(services):
        if category and not (cat == category or cat.startswith(category + ".")):
            continue
        _, _, meters = GEOD.inv(lon, lat, slon, slat)
        km = meters / 1000
        if radius_km is not None and km > radius_km:
            continue
        out.append((km, i))
    return sorted(out)


def nearest_with_factor(session, lat, lon, filters, limit, candidate_factor):
    """nearest_services with another candidate factor (1 makes the fallback branch common)."""
    sql, params = nearest_services_sql(lat, lon, filters, limit, candidate_factor=candidate_factor)
    return [dict(r) for r in session.execute(text(sql), params).mappings()]


def check_against_oracle(
    session, services, lat, lon, filters, limit, candidate_factor=CANDIDATE_FACTOR, rel_tolerance=0.005
):
    savepoint = session.begin_nested()
    try:
        import_listings(
            session,
            [
                listing(external_id=f"p{i}", lat=s[0], lon=s[1], categories=[s[2]], confidential=False)
                for i, s in enumerate(services)
            ],
        )
        if candidate_factor == CANDIDATE_FACTOR:
            got = nearest_services(session, lat, lon, filters, limit)
        else:
            got = nearest_with_factor(session, lat, lon, filters, limit, candidate_factor)
        expected = brute_force(services, lat, lon, filters.category, filters.radius_km)[:limit]
        assert len(got) == len(expected)
        for row, (km, _i) in zip(got, expected):
            # Same rank, same distance (0.5% or 1 m): ties may swap ids, never distances.
            assert abs(row["distance_km"] - km) <= max(rel_tolerance * km, 0.001), (row["distance_km"], km)
        ranks = [r["distance_km"] for r in got]
        assert ranks == sorted(ranks)
        # Each returned service is really at its reported distance.
        by_ext = {f"p{i}": s for i, s in enumerate(services)}
        for row in got:
            s = by_ext[row["external_id"]]
            _, _, meters = GEOD.inv(lon, lat, s[1], s[0])
            assert abs(row["distance_km"] - meters / 1000) <= max(0.005 * meters / 1000, 0.001)
    finally:
        savepoint.rollback()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    services=st.lists(service_st, min_size=1, max_size=80),
    lat=lat_st,
    lon=lon_st,
    limit=st.integers(min_value=1, max_value=30),
)
def test_nearest_matches_brute_force(session, services, lat, lon, limit):
    check_against_oracle(session, services, lat, lon, NearbyFilters(), limit)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    services=st.lists(service_st, min_size=1, max_size=80),
    lat=lat_st,
    lon=lon_st,
    category=st.sampled_from(["protection", "livelihoods", "training.language", "protection.shelter"]),
    radius_km=st.one_of(st.none(), st.floats(min_value=1, max_value=1500)),
    limit=st.integers(min_value=1, max_value=30),
)
def test_filtered_nearest_matches_brute_force(session, services, lat, lon, category, radius_km, limit):
    filters = NearbyFilters(category=category, radius_km=radius_km)
    check_against_oracle(session, services, lat, lon, filters, limit)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    services=st.lists(service_st, min_size=1, max_size=60),
    lat=lat_st,
    lon=lon_st,
    category=st.sampled_from([None, "protection", "training.language"]),
    limit=st.integers(min_value=1, max_value=30),
)
def test_one_candidate_per_result_still_exact(session, services, lat, lon, category, limit):
    """With as many candidates as results the completeness proof often fails, so the
    statement's wide branch answers: it must agree with the oracle too."""
    check_against_oracle(
        session, services, lat, lon, NearbyFilters(category=category), limit, candidate_factor=1, rel_tolerance=1e-6
    )


def test_crowded_spot_and_skewed_neighbourhood_stay_exact(session):
    """Where planar order is not geodesic order, the candidates cannot prove completeness
    and the statement's wide branch must answer; results stay exact to the millimetre."""
    import random

    rng = random.Random(3)
    # Many services at one spot (a shelter network in one building)...
    crowded = [(14.9 + rng.uniform(-1e-5, 1e-5), -92.26 + rng.uniform(-1e-5, 1e-5), "protection.legal", False)
               for _ in range(70)]
    rng = random.Random(3)
    # ...and at 20°N, where a degree east is 0.94 of a degree north.
    skewed = [(20.0 + 0.5 * rng.random(), -99.0 + 0.5 * rng.random(), "protection.shelter", False)
              for _ in range(80)]
    planar_top = sorted(range(80), key=lambda i: (skewed[i][0] - 20.25) ** 2 + (skewed[i][1] + 98.75) ** 2)[:25]
    geodesic_top = [i - 70 for _, i in brute_force(crowded + skewed, 20.25, -98.75)[:25]]
    assert set(planar_top) != set(geodesic_top)  # the case this test is about
    services = crowded + skewed
    exact = {"rel_tolerance": 1e-6}  # both sides compute Karney geodesics: they agree to the millimetre
    check_against_oracle(session, services, 14.9, -92.26, NearbyFilters(), 30, **exact)
    check_against_oracle(session, services, 14.90001, -92.26, NearbyFilters(), 10, candidate_factor=1, **exact)
    check_against_oracle(session, services, 20.25, -98.75, NearbyFilters(), 25, **exact)
    check_against_oracle(session, services, 20.25, -98.75, NearbyFilters(), 25, candidate_factor=1, **exact)


@settings(max_examples=300, deadline=None)
@given(
    lat=st.floats(min_value=-70, max_value=70),
    lon=st.floats(min_value=-179, max_value=179),
    bearing=st.floats(min_value=0, max_value=360),
    meters=st.floats(min_value=0.01, max_value=3_000_000),
)
def test_planar_reach_holds_every_point_within_the_distance(lat, lon, bearing, meters):
    """The completeness proof's bound: a point ``meters`` away (geodesic) is never
    farther than ``planar_reach_degrees`` in planar (lat, lon) degrees."""
    lon2, lat2, _ = GEOD.fwd(lon, lat, bearing, meters)
    if abs(lon2 - lon) > 180:
        return  # across the antimeridian: planar distance is meaningless there (not the MIRPS region)
    planar = ((lat2 - lat) ** 2 + (lon2 - lon) ** 2) ** 0.5
    assert planar <= planar_reach_degrees(lat, meters)


def test_planar_reach_sql_twin_agrees(session):
    for lat, meters in [(0.0, 1.0), (14.9, 1234.5), (-33.0, 500_000.0), (85.0, 1e6), (20.0, 0.0)]:
        sql = f"SELECT {_planar_reach_sql('CAST(:lat AS float8)', 'CAST(:m AS float8)')}"
        got = session.execute(text(sql), {"lat": lat, "m": meters}).scalar_one()
        assert abs(got - planar_reach_degrees(lat, meters)) <= 1e-9 * max(1.0, got)


def test_a_few_thousand_services_agree_with_the_oracle(session):
    """The 'done when' check: thousands of services, several query points."""
    import random

    rng = random.Random(7)
    services = [
        (rng.uniform(7.5, 21.0), rng.uniform(-100.0, -77.5), rng.choice(CATEGORIES), False)
        for _ in range(3000)
    ]
    for lat, lon in [(14.9, -92.26), (8.5, -78.0), (13.7, -89.2), (20.9, -99.9), (10.0, -84.0)]:
        check_against_oracle(session, services, lat, lon, NearbyFilters(), 50)
        check_against_oracle(session, services, lat, lon, NearbyFilters(category="protection"), 20)


def test_population_and_language_filters(session):
    import_listings(
        session,
        [
            listing(external_id="kids", populations=["children"], languages=["es"]),
            listing(external_id="women", populations=["women"], languages=["es", "ht"], lat=14.95),
        ],
    )
    kids = nearest_services(session, 14.9, -92.26, NearbyFilters(population="children"))
    assert [r["external_id"] for r in kids] == ["kids"]
    creole = nearest_services(session, 14.9, -92.26, NearbyFilters(language="ht"))
    assert [r["external_id"] for r in creole] == ["women"]


def test_deleted_and_unapproved_are_not_public(session):
    from sqlalchemy import text

    import_listings(session, [listing(external_id="gone"), listing(external_id="kept"),
                              listing(organization="Pending Org", external_id="pending")])  # fmt: skip
    session.execute(text("UPDATE service SET status = 'deleted', deleted_at = now() WHERE external_id = 'gone'"))
    session.execute(text("UPDATE organization SET status = 'pending' WHERE name = 'Pending Org'"))
    found = [r["external_id"] for r in nearest_services(session, 14.9, -92.26)]
    assert found == ["kept"]


def test_sql_json_is_service_json(session):
    """The nearby API's body is written by PostgreSQL; it must be service_json()'s shape,
    value for value, for every kind of listing (confidential, no phone, accents, demo)."""
    import json
    from datetime import date

    import_listings(
        session,
        [
            listing(external_id="a", name="Asesoría «legal» ñandú", phone="+50255551234", lat=14.91),
            listing(external_id="b", confidential=True, address="Calle secreta 1", lat=14.92, hours="Mo-Fr 08:00-16:00"),
            listing(external_id="c", phone=None, whatsapp=None, email=None, website=None, free=None, lat=14.93,
                    languages=["es", "ht"], populations=["women", "children"]),
        ],
    )
    session.execute(text("UPDATE service SET last_verified = :d WHERE external_id = 'c'"), {"d": date.today()})
    session.execute(text("UPDATE service SET is_demo = true WHERE external_id = 'a'"))
    for filters in (NearbyFilters(), NearbyFilters(category="protection"), NearbyFilters(radius_km=0.5)):
        rows = nearest_services(session, 14.9, -92.26, filters, 10)
        body = json.loads(nearest_services_json(session, 14.9, -92.26, filters, 10))
        expected = [service_json(r) for r in rows]
        assert len(body["results"]) == len(expected)
        for got, want in zip(body["results"], expected):
            # Rounded to metres on both sides; a half-metre tie may round either way.
            assert abs(got.pop("distance_km") - want.pop("distance_km")) <= 0.0011
            for axis in ("lat", "lon"):  # 6 decimals both; a half-way case may round either way
                assert abs(got["location"].pop(axis) - want["location"].pop(axis)) <= 1.1e-6
            assert got == want


# The nearby body as PostgreSQL built it from the directory tables before the documents of
# migration 0010: json_agg over json_build_object per result, for the given ids and distances.
DIRECTORY_BODY_SQL = """
SELECT json_build_object('results', coalesce(json_agg(json_build_object(
    'id', s.id, 'name', s.name,
    'organization', json_build_object('id', o.id, 'name', o.name),
    'categories', s.categories,
    'distance_km', r.km,
    'location', json_build_object(
        'lat', round(ST_Y(l.public_geom) * 1e6::float8) / 1e6::float8,
        'lon', round(ST_X(l.public_geom) * 1e6::float8) / 1e6::float8,
        'approximate', s.confidential,
        'address', CASE WHEN s.confidential THEN NULL ELSE l.address END),
    'phone', s.phone, 'whatsapp', s.whatsapp, 'email', s.email, 'website', s.website,
    'languages', s.languages, 'populations', s.populations, 'free', s.free, 'hours', s.hours,
    'last_verified', s.last_verified, 'description', s.description,
    'country', l.declared_country, 'demo', (s.is_demo OR o.is_demo)) ORDER BY r.n), '[]'::json))::text
  FROM unnest(CAST(:ids AS int[]), CAST(:km AS float8[])) WITH ORDINALITY AS r(id, km, n)
  JOIN service s ON s.id = r.id
  JOIN organization o ON o.id = s.organization_id
  JOIN service_at_location sal ON sal.service_id = s.id
  JOIN location l ON l.id = sal.location_id
"""


def test_body_from_documents_is_byte_for_byte_the_directorys(session):
    import json

    import_listings(
        session,
        [
            listing(external_id="q", name='Casa "Refugio" \\ ñandú', description="Línea 1\nLínea 2\t«ok»", lat=14.91,
                    phone="+50255551234", website="https://example.org/a?b=1&c=2", hours="Mo-Fr 08:00-16:00"),
            listing(external_id="conf", confidential=True, address="Calle secreta 1", lat=14.96, lon=-92.3),
            listing(organization="Otra «org»", external_id="d", free=None, lat=14.93, languages=["es", "ht"],
                    populations=["women", "children"], categories=["protection.shelter", "training.language"]),
            listing(external_id="far", lat=15.5, lon=-92.9),
        ],
    )  # fmt: skip
    session.execute(text("UPDATE organization SET is_demo = true WHERE name = 'Otra «org»'"))
    searches = [
        NearbyFilters(), NearbyFilters(category="protection"), NearbyFilters(category="training.language"),
        NearbyFilters(radius_km=3), NearbyFilters(population="women"), NearbyFilters(language="ht"),
        NearbyFilters(radius_km=0.01),
    ]  # fmt: skip
    bodies = []
    for filters in searches:
        body = nearest_services_json(session, 14.9, -92.26, filters, 10)
        results = json.loads(body)["results"]
        ids, km = [r["id"] for r in results], [float(r["distance_km"]) for r in results]
        assert body == session.execute(text(DIRECTORY_BODY_SQL), {"ids": ids, "km": km}).scalar_one()
        bodies.append(results)
    assert [len(b) for b in bodies] == [4, 4, 1, 1, 1, 1, 0]
    assert "Calle secreta" not in json.dumps(bodies)


def test_body_from_the_wide_branch_is_the_directorys_too(session):
    """At a crowded spot the candidates cannot prove completeness: the statement's second
    branch ranks every row in reach, and its documents give the same body."""
    import json
    import random

    rng = random.Random(5)
    import_listings(
        session,
        [listing(external_id=f"c{i}", lat=14.9 + rng.uniform(-1e-5, 1e-5), lon=-92.26 + rng.uniform(-1e-5, 1e-5),
                 confidential=i % 7 == 0) for i in range(60)],
    )  # fmt: skip
    bodies = []
    for factor in (1, 3):
        sql, params = nearest_services_sql(14.9, -92.26, NearbyFilters(), 30, as_json=True, candidate_factor=factor)
        proof = sql.split("hits AS")[0].rstrip().rstrip(",") + " SELECT complete FROM proof"
        assert session.execute(text(proof), params).scalar_one() is (factor == 3)
        bodies.append(session.execute(text(sql), params).scalar_one())
    assert bodies[0] == bodies[1]
    results = json.loads(bodies[0])["results"]
    ids, km = [r["id"] for r in results], [float(r["distance_km"]) for r in results]
    assert len(ids) == 30
    assert bodies[0] == session.execute(text(DIRECTORY_BODY_SQL), {"ids": ids, "km": km}).scalar_one()
