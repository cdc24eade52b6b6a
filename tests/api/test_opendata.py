"""GET /api/v1/services.geojson: RFC 7946, bbox and category, licence."""
from __future__ import annotations

from tests.factories import listing, make_services


def test_geojson_by_bbox_and_category(client, session):
    ids = make_services(
        session,
        listing(lat=14.9056, lon=-92.2633, categories=["protection.legal"]),
        listing(lat=14.95, lon=-92.20, categories=["livelihoods.employment"]),
        listing(lat=14.6349, lon=-90.5069, country="GT", categories=["protection.asylum"]),
    )
    response = client.get("/api/v1/services.geojson?bbox=-92.5,14.5,-92.0,15.2")
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    collection = response.get_json()
    assert collection["type"] == "FeatureCollection" and collection["license"] == "CC-BY-4.0"
    assert [f["id"] for f in collection["features"]] == ids[:2]
    lon, lat = collection["features"][0]["geometry"]["coordinates"]
    assert (lat, lon) == (14.9056, -92.2633)  # RFC 7946: longitude first
    protection = client.get("/api/v1/services.geojson?category=protection").get_json()
    assert [f["id"] for f in protection["features"]] == [ids[0], ids[2]]
    assert client.get("/api/v1/services.geojson?bbox=1,2").status_code == 400
    assert client.get("/api/v1/services.geojson?category=nope").status_code == 400
