"""A confidential service's exact point and address never leave the server."""
from __future__ import annotations

import json

from pyproj import Geod
from sqlalchemy import text

from mapservice.services.exporter import export_csv, export_geojson, export_hsds
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


def _leaks(blob: str) -> list[str]:
    found = []
    for needle in (ADDRESS, "Calle Secreta", f"{EXACT_LAT}", f"{EXACT_LON}", "14.9123", "-92.2567"):
        if needle in blob:
            found.append(needle)
    return found


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
    _, _, meters = Geod(ellps="WGS84").inv(EXACT_LON, EXACT_LAT, result["location"]["lon"], result["location"]["lat"])
    assert abs(result["distance_km"] - meters / 1000) < 0.01


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
