"""A confidential service's exact point and address never leave the server."""
from __future__ import annotations

import json
import re

from pyproj import Geod
from sqlalchemy import text

from mapservice.http_cache import canonical_coordinate
from mapservice.services.exporter import export_csv, export_geojson, export_hsds
from mapservice.services.hsds import object_id
from tests.factories import listing, make_services

EXACT_LAT, EXACT_LON = 14.91234, -92.25678
ADDRESS = "Casa segura, Calle Secreta 7"


def _make(session):
    (sid,) = make_services(
        session,
        listing(name="Refugio", lat=EXACT_LAT, lon=EXACT_LON, address=ADDRESS, confidential=True,
                categories=["protection.gbv"]),  # fmt: skip
    )
    return sid


NUMBER = re.compile(r"-?\d+\.\d{3,}")


def _leaks(blob: str) -> list[str]:
    """The address, or any pair of numbers within ~50 m of the exact point, found in ``blob``.

    Numbers are compared, not substrings: the random public point may share a prefix such
    as "14.9123" with the exact latitude while lying kilometres away.
    """
    found = [needle for needle in (ADDRESS, "Calle Secreta") if needle in blob]
    numbers = [float(x) for x in NUMBER.findall(blob)]
    near_lat = any(abs(x - EXACT_LAT) < 0.0005 for x in numbers)
    near_lon = any(abs(x - EXACT_LON) < 0.0005 for x in numbers)
    if near_lat and near_lon:
        found.append("the exact point")
    return found


def test_leak_check_finds_the_exact_point():
    assert _leaks(f'{{"lat": {EXACT_LAT}, "lon": {EXACT_LON}}}') == ["the exact point"]
    assert _leaks(f"{EXACT_LON:.6f},{EXACT_LAT:.6f} {ADDRESS}") == [ADDRESS, "Calle Secreta", "the exact point"]
    assert _leaks(f'{{"lat": {EXACT_LAT + 0.00001}, "lon": {EXACT_LON + 0.02}}}') == []


def test_public_point_is_generalized_once(session):
    sid = _make(session)
    public, exact = session.execute(
        text("SELECT ST_AsText(public_geom), ST_AsText(geom) FROM location l "
             "JOIN service_at_location sal ON sal.location_id = l.id WHERE sal.service_id = :id"),  # fmt: skip
        {"id": sid},
    ).one()
    assert public != exact
    lon, lat = map(float, public[6:-1].split())
    _, _, meters = Geod(ellps="WGS84").inv(EXACT_LON, EXACT_LAT, lon, lat)
    assert 1000 <= meters <= 3100


def test_no_public_output_contains_the_exact_place(client, session):
    sid = _make(session)
    outputs = [
        client.get(f"/api/v1/services/{sid}").get_data(as_text=True),
        client.get("/api/v1/services/nearby?lat=14.9&lon=-92.26").get_data(as_text=True),
        client.get(f"/services/{sid}").get_data(as_text=True),
        client.get("/search?lat=14.9&lon=-92.26").get_data(as_text=True),
        export_csv(session),
        export_geojson(session),
        export_hsds(session),
        client.get("/api/v1/services.geojson").get_data(as_text=True),
        client.get("/ogc/collections/services/items?limit=1000").get_data(as_text=True),
        client.get(f"/ogc/collections/services/items/{sid}").get_data(as_text=True),
        client.get(f"/ogc/collections/services/items/{sid}?f=html").get_data(as_text=True),
        client.get("/ogc/collections/services/items?f=html").get_data(as_text=True),
        client.get("/hsds/services").get_data(as_text=True),
        client.get("/hsds/services?full=true").get_data(as_text=True),
        client.get(f"/hsds/services/{object_id('service', sid)}").get_data(as_text=True),
        client.get("/hsds/organizations?full=true&full_service=true").get_data(as_text=True),
    ]
    for blob in outputs:
        assert "Refugio" in blob
        assert _leaks(blob) == []
    item = client.get(f"/api/v1/services/{sid}").get_json()
    assert item["location"]["approximate"] is True and item["location"]["address"] is None
    feature = json.loads(export_geojson(session))["features"][0]
    assert feature["properties"]["approximate"] is True


def test_distance_is_measured_to_the_generalized_point(client, session):
    _make(session)
    result = client.get(f"/api/v1/services/nearby?lat={EXACT_LAT}&lon={EXACT_LON}").get_json()["results"][0]
    assert result["distance_km"] >= 1.0
    # Searched from the canonical point (3 decimals), to the generalized point.
    lat, lon = float(canonical_coordinate(EXACT_LAT)), float(canonical_coordinate(EXACT_LON))
    _, _, meters = Geod(ellps="WGS84").inv(lon, lat, result["location"]["lon"], result["location"]["lat"])
    assert abs(result["distance_km"] - meters / 1000) < 0.002


def test_reimport_keeps_the_same_public_point(session):
    from mapservice.services.importer import import_listings

    sid = _make(session)
    query = text("SELECT ST_AsText(l.public_geom) FROM location l JOIN service_at_location sal "
                 "ON sal.location_id = l.id WHERE sal.service_id = :id")  # fmt: skip
    first = session.execute(query, {"id": sid}).scalar_one()
    row = session.execute(text("SELECT external_id FROM service WHERE id = :id"), {"id": sid}).scalar_one()
    import_listings(session, [listing(external_id=row, name="Refugio renamed", lat=EXACT_LAT, lon=EXACT_LON,
                                      address=ADDRESS, confidential=True, categories=["protection.gbv"])])  # fmt: skip
    assert session.execute(query, {"id": sid}).scalar_one() == first
