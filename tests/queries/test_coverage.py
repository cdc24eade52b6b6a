"""Coverage queries against independent computations: Shapely point-in-polygon, pyproj geodesics."""
from __future__ import annotations

import json
import math
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely import covers
from shapely.geometry import Point, shape
from shapely.ops import unary_union
from sqlalchemy import text

from mapservice.queries.coverage import CoverageScope, area_counts, unserved_places
from tests.factories import insert_raw_services

SEED = Path(__file__).resolve().parents[2] / "seed"
GEOD = Geod(ellps="WGS84")
COUNTRY = "HN"
PROPERTY_SETTINGS = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@lru_cache(maxsize=1)
def admin_areas() -> dict[str, object]:
    """Shapely polygons of HN and its neighbours' areas, from the same file the seed loads."""
    with open(SEED / "admin1.geojson", encoding="utf-8") as fh:
        features = json.load(fh)["features"]
    return {f["properties"]["code"]: (f["properties"]["iso2"], shape(f["geometry"])) for f in features}


@lru_cache(maxsize=1)
def country_polygon():
    return unary_union([g for cc, g in admin_areas().values() if cc == COUNTRY])


@lru_cache(maxsize=1)
def border_lines():
    """Boundaries of HN's areas (inner borders and the national border)."""
    return [g.boundary for cc, g in admin_areas().values() if cc == COUNTRY]


@st.composite
def points_near_borders(draw):
    """A point on or within ~2 km of one of HN's area boundaries (vertices exactly, sometimes)."""
    line = draw(st.sampled_from(border_lines()))
    fraction = draw(st.floats(0, 1))
    on_line = line.interpolate(fraction, normalized=True)
    if draw(st.booleans()):
        # An exact vertex of the boundary: on the border of (usually) two polygons at once.
        coords = [c for part in getattr(line, "geoms", [line]) for c in part.coords]
        x, y = coords[draw(st.integers(0, len(coords) - 1))]
        return y, x
    distance = draw(st.floats(1e-6, 0.02))
    angle = draw(st.floats(0, 2 * math.pi))
    return on_line.y + distance * math.sin(angle), on_line.x + distance * math.cos(angle)


@st.composite
def points_in_bbox(draw):
    minx, miny, maxx, maxy = country_polygon().bounds
    return draw(st.floats(miny, maxy)), draw(st.floats(minx, maxx))


service_rows = st.lists(
    st.fixed_dictionaries(
        {
            "point": st.one_of(points_near_borders(), points_in_bbox()),
            "categories": st.lists(
                st.sampled_from(["protection.legal", "protection.shelter", "livelihoods.employment", "training"]),
                min_size=1, max_size=2, unique=True,
            ),
            "confidential": st.booleans(),
            "public": st.sampled_from(["yes", "yes", "yes", "deleted", "pending_org", "stale"]),
        }
    ),
    min_size=1,
    max_size=40,
)  # fmt: skip


def _raw(row) -> dict:
    lat, lon = row["point"]
    out = {"lat": lat, "lon": lon, "country": COUNTRY, "categories": row["categories"],
           "confidential": row["confidential"]}  # fmt: skip
    if row["public"] == "deleted":
        out["status"] = "deleted"
    elif row["public"] == "pending_org":
        out["org_status"] = "pending"
    elif row["public"] == "stale":
        out["last_verified"] = date.today() - timedelta(days=400)
    return out


def _public_points(session, ids: list[int]) -> dict[int, tuple[float, float]]:
    rows = session.execute(
        text(
            "SELECT sal.service_id, ST_Y(l.public_geom), ST_X(l.public_geom) FROM service_at_location sal "
            "JOIN location l ON l.id = sal.location_id WHERE sal.service_id = ANY(:ids)"
        ),
        {"ids": ids},
    ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def _matches(categories: list[str], category: str | None) -> bool:
    return category is None or any(c == category or c.startswith(category + ".") for c in categories)


@PROPERTY_SETTINGS
@given(rows=service_rows, category=st.sampled_from([None, "protection", "protection.legal", "training"]))
def test_area_counts_equal_shapely_point_in_polygon(session, rows, category):
    """Per area: the services whose public point the area's polygon covers (Shapely ``covers``).

    A point covered by two polygons (exactly on a shared border) counts once, in the area
    with the smaller code, as the contract's "the area whose polygon covers" reads.
    """
    session.begin_nested()
    try:
        ids = insert_raw_services(session, [_raw(r) for r in rows])
        points = _public_points(session, ids)
        expected = {code: 0 for code, (cc, _) in admin_areas().items() if cc == COUNTRY}
        for service_id, row in zip(ids, rows):
            if row["public"] != "yes" or not _matches(row["categories"], category):
                continue
            lat, lon = points[service_id]
            covering = sorted(code for code, (_, g) in admin_areas().items() if covers(g, Point(lon, lat)))
            if covering and covering[0] in expected:
                expected[covering[0]] += 1
        got = {r["code"]: r["services"] for r in area_counts(session, CoverageScope(COUNTRY, category))}
        assert got == expected
    finally:
        session.rollback()


def test_area_counts_use_the_public_point(session):
    """A confidential service counts where its public point is, not where the private one is."""
    (service_id,) = insert_raw_services(session, [{"lat": 14.0818, "lon": -87.2068, "country": COUNTRY, "confidential": True}])
    # Move the public point into another department (Olancho) by hand.
    session.execute(
        text(
            "UPDATE location SET public_geom = ST_SetSRID(ST_MakePoint(-85.9, 14.85), 4326) "
            "WHERE id = (SELECT location_id FROM service_at_location WHERE service_id = :s)"
        ),
        {"s": service_id},
    )
    counts = {r["code"]: r["services"] for r in area_counts(session, CoverageScope(COUNTRY))}
    assert counts["HN-OL"] == 1 and counts["HN-FM"] == 0


def _places(session) -> list[tuple[int, str, float, float, int]]:
    return session.execute(
        text("SELECT id, name, ST_Y(geom), ST_X(geom), population FROM place WHERE country_code = :c"),
        {"c": COUNTRY},
    ).all()


@PROPERTY_SETTINGS
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "point": points_in_bbox(),
                "categories": st.lists(st.sampled_from(["protection.legal", "training.language"]), min_size=1,
                                       max_size=2, unique=True),
                "confidential": st.booleans(),
                "public": st.sampled_from(["yes", "yes", "deleted", "stale"]),
                "abroad": st.booleans(),
            }
        ),
        min_size=0, max_size=25,
    ),
    category=st.sampled_from([None, "protection"]),
    beyond_km=st.floats(0.5, 150),
)  # fmt: skip
def test_unserved_places_equal_brute_force_geodesic_minimum(session, rows, category, beyond_km):
    """Each nearest_km is the geodesic minimum to a matching public point of the country's
    services; exactly the towns farther than beyond_km are listed, largest first."""
    session.begin_nested()
    try:
        raws = []
        for r in rows:
            raw = _raw(r)
            if r["abroad"]:
                raw["country"] = "GT"  # a service of another country never serves these towns
            raws.append(raw)
        ids = insert_raw_services(session, raws)
        points = _public_points(session, ids)
        serving = [
            points[i] for i, r in zip(ids, rows)
            if r["public"] == "yes" and not r["abroad"] and _matches(r["categories"], category)
        ]  # fmt: skip
        places = _places(session)
        expected: dict[int, float | None] = {}
        for pid, _name, lat, lon, _pop in places:
            if serving:
                s_lat = np.array([p[0] for p in serving])
                s_lon = np.array([p[1] for p in serving])
                _, _, d = GEOD.inv(np.full(len(serving), lon), np.full(len(serving), lat), s_lon, s_lat)
                nearest = float(d.min()) / 1000
            else:
                nearest = None
            if nearest is None or nearest > beyond_km:
                expected[(round(lat, 6), round(lon, 6), _name)] = nearest
            elif abs(nearest - beyond_km) < 0.005:
                assume(False)  # a town within 5 m of the threshold: rounding decides
        got_rows = unserved_places(session, CoverageScope(COUNTRY, category), beyond_km)
        got = {(round(r["lat"], 6), round(r["lon"], 6), r["name"]): r["nearest_km"] for r in got_rows}
        assert got.keys() == expected.keys()
        for key, nearest in expected.items():
            if nearest is None:
                assert got[key] is None
            else:
                assert got[key] == pytest.approx(nearest, abs=0.001)
        populations = [r["population"] for r in got_rows]
        assert populations == sorted(populations, reverse=True)
    finally:
        session.rollback()


def test_gaps_measure_to_the_public_point(session):
    """The distance to a confidential service is the distance to its public point."""
    (service_id,) = insert_raw_services(
        session, [{"lat": 14.0818, "lon": -87.2068, "country": COUNTRY, "confidential": True}]
    )
    lat, lon = _public_points(session, [service_id])[service_id]
    rows = unserved_places(session, CoverageScope(COUNTRY), 0.001)
    tegus = next(r for r in rows if r["name"] == "Tegucigalpa")
    _, _, d = GEOD.inv(tegus["lon"], tegus["lat"], lon, lat)
    assert tegus["nearest_km"] == pytest.approx(d / 1000, abs=0.001)


def test_imported_locations_carry_the_area_of_their_public_point(session):
    """The importer's set-based fill and the trigger agree with ST_Covers on the public point."""
    from tests.factories import listing, make_services

    ids = make_services(
        session,
        listing(country="HN", lat=14.0818, lon=-87.2068),
        listing(country="HN", lat=15.5042, lon=-88.0250, confidential=True),
        listing(country="HN", lat=14.0818, lon=-87.2068, confidential=True),
    )
    rows = session.execute(
        text(
            """
            SELECT l.public_area_code,
                   (SELECT a.code FROM admin_area a WHERE ST_Covers(a.geom, l.public_geom) ORDER BY a.code LIMIT 1)
              FROM service_at_location sal JOIN location l ON l.id = sal.location_id
             WHERE sal.service_id = ANY(:ids)
            """
        ),
        {"ids": ids},
    ).all()
    assert len(rows) == 3 and all(stored == computed and stored for stored, computed in rows)


def test_changed_boundaries_reassign_points(session):
    """A boundary that moves (a re-seed with new data) re-derives the areas of the points it touches."""
    (service_id,) = insert_raw_services(session, [{"lat": 14.0818, "lon": -87.2068, "country": COUNTRY}])
    area = lambda: session.execute(  # noqa: E731
        text(
            "SELECT l.public_area_code FROM location l JOIN service_at_location sal ON sal.location_id = l.id "
            "WHERE sal.service_id = :s"
        ),
        {"s": service_id},
    ).scalar_one()
    assert area() == "HN-FM"
    session.execute(
        text("UPDATE admin_area SET geom = ST_Multi(ST_Difference(geom, ST_Buffer(ST_SetSRID(ST_MakePoint(-87.2068, 14.0818), 4326), 0.01))) WHERE code = 'HN-FM'")
    )
    assert area() is None
