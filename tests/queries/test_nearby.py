"""Nearby search agrees with a brute-force geodesic oracle (pyproj's Geod on WGS84)."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod

from mapservice.queries.services import NearbyFilters, nearest_services
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


def check_against_oracle(session, services, lat, lon, filters, limit):
    savepoint = session.begin_nested()
    try:
        import_listings(
            session,
            [
                listing(external_id=f"p{i}", lat=s[0], lon=s[1], categories=[s[2]], confidential=False)
                for i, s in enumerate(services)
            ],
        )
        got = nearest_services(session, lat, lon, filters, limit)
        expected = brute_force(services, lat, lon, filters.category, filters.radius_km)[:limit]
        assert len(got) == len(expected)
        for row, (km, _i) in zip(got, expected):
            # Same rank, same distance (0.5% or 1 m): ties may swap ids, never distances.
            assert abs(row["distance_km"] - km) <= max(0.005 * km, 0.001), (row["distance_km"], km)
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
