"""Clustered services for a country-wide map: counts add up, capped, public points only."""
from __future__ import annotations

import gzip
import json
import re

import brotli
from pyproj import Geod

from mapservice.queries.clusters import clusters_in_box
from tests.factories import listing, make_services

REGION = "-118,5,-77,33"


def test_counts_add_up_and_single_services_are_named(client, session):
    ids = make_services(
        session,
        listing(name="Asesoría A", lat=14.9056, lon=-92.2633),
        listing(name="Asesoría B", lat=14.91, lon=-92.27),
        listing(name="Albergue C", lat=14.95, lon=-92.25, categories=["protection.shelter"]),
        listing(name="Empleo D", lat=9.9281, lon=-84.0907, country="CR", categories=["livelihoods.employment"]),
    )
    body = client.get(f"/api/v1/services/clusters?bbox={REGION}&zoom=4").get_json()
    assert body["total"] == 4 and sum(c["count"] for c in body["clusters"]) == 4
    assert len(body["clusters"]) == 2  # Tapachula's three, San José's one
    one = next(c for c in body["clusters"] if c["count"] == 1)
    assert one["id"] == ids[3] and one["name"] == "Empleo D"

    close = client.get("/api/v1/services/clusters?bbox=-92.4,14.8,-92.1,15.0&zoom=16").get_json()
    assert sorted(c["id"] for c in close["clusters"]) == sorted(ids[:3])
    shelters = client.get(f"/api/v1/services/clusters?bbox={REGION}&zoom=4&category=protection.shelter").get_json()
    assert shelters["total"] == 1


def test_never_more_than_the_cap(session):
    make_services(session, *[listing(lat=14.0 + i * 0.5, lon=-92.0 + (i % 3) * 0.01, country="GT") for i in range(4)])
    result = clusters_in_box(session, (-93.0, 13.5, -88.0, 16.0), 18, max_clusters=2)
    assert len(result.clusters) <= 2 and sum(c["count"] for c in result.clusters) == result.total == 4


def test_confidential_services_cluster_at_their_public_point(client, session):
    (sid,) = make_services(session, listing(lat=14.9056, lon=-92.2633, confidential=True))
    body = client.get("/api/v1/services/clusters?bbox=-92.6,14.6,-91.9,15.2&zoom=18").get_json()
    (cluster,) = body["clusters"]
    _, _, meters = Geod(ellps="WGS84").inv(-92.2633, 14.9056, cluster["lon"], cluster["lat"])
    assert cluster["id"] == sid and meters > 1000


def test_bad_boxes_are_400(client):
    for query in ("", "bbox=1,2,3", "bbox=-80,10,-90,12", "bbox=-90,10,-80,12&zoom=40", "bbox=-90,10,-80,12&category=nope"):
        response = client.get(f"/api/v1/services/clusters?{query}")
        assert response.status_code == 400 and response.get_json()["error"]["code"]


def test_the_outline_basemap_draws_the_seven_countries_without_any_tile_server(client):
    plain = client.get("/api/v1/basemap")
    assert plain.status_code == 200 and plain.mimetype == "application/geo+json"
    assert plain.headers["Cache-Control"] == "public, max-age=86400"
    # Compressed once, as small as brotli makes it: what a phone's data plan pays, once a day.
    br = client.get("/api/v1/basemap", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert br.headers["Content-Encoding"] == "br" and len(br.get_data()) < 30_000
    assert brotli.decompress(br.get_data()) == plain.get_data()
    gz = client.get("/api/v1/basemap", headers={"Accept-Encoding": "gzip"})
    assert gz.headers["Content-Encoding"] == "gzip" and gzip.decompress(gz.get_data()) == plain.get_data()
    assert len({plain.headers["ETag"], br.headers["ETag"], gz.headers["ETag"]}) == 3
    assert "Accept-Encoding" in br.headers["Vary"]
    body = json.loads(plain.get_data())
    kinds: dict[str, list[dict]] = {}
    for feature in body["features"]:
        kinds.setdefault(feature["properties"]["kind"], []).append(feature)
    assert sorted(f["properties"]["country"] for f in kinds["country"]) == ["BZ", "CR", "GT", "HN", "MX", "PA", "SV"]
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in kinds["country"])
    (areas,) = kinds["areas"]
    assert areas["geometry"]["type"] in ("LineString", "MultiLineString")
    towns = {f["properties"]["name"]: f["properties"]["min_zoom"] for f in kinds["town"]}
    assert towns["Guatemala City"] == 5 and towns["Tapachula"] == 7 and towns["Belize City"] == 9
    # Simplified to about a kilometre: 3 decimals at most, a few thousand vertices in all.
    coordinates = re.findall(r"-?\d+\.\d+", json.dumps([f["geometry"] for f in body["features"]]))
    assert max(len(c.split(".")[1]) for c in coordinates) <= 3 and len(coordinates) < 30_000


def test_the_basemap_answers_304_to_its_etag(client):
    etag = client.get("/api/v1/basemap", headers={"Accept-Encoding": "br"}).headers["ETag"]
    again = client.get("/api/v1/basemap", headers={"If-None-Match": etag, "Accept-Encoding": "br"})
    assert again.status_code == 304 and not again.get_data()
