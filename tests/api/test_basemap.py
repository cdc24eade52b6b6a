"""The outline basemap: the seven countries, their boundaries and towns, light and cacheable."""
from __future__ import annotations

import gzip
import json
import re

import brotli


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


def test_a_new_worker_takes_the_basemap_from_the_shared_cache(app, monkeypatch):
    from mapservice.api import basemap

    made = []
    monkeypatch.setattr(basemap, "outline_basemap", lambda session: made.append(1) or '{"features": []}')
    app.extensions.pop("mapservice.shared_cache", None)  # a cache without the real basemap
    try:
        with app.app_context():
            for _ in range(2):  # two workers: each compresses its own bodies, one GeoJSON is made
                app.extensions.pop("mapservice.basemap", None)
                bodies, _ = basemap.outline_basemap_document()
                assert gzip.decompress(bodies["gzip"]) == bodies[None] == b'{"features": []}'
    finally:
        app.extensions.pop("mapservice.basemap", None)
        app.extensions.pop("mapservice.shared_cache", None)
    assert made == [1]
