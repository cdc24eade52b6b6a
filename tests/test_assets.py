"""Static files: fingerprinted, cached for a year, pre-compressed (brotli or gzip); pages and
JSON compressed per response; Leaflet from its package."""
from __future__ import annotations

import gzip
import html
import re
import time

import brotli

from tests.factories import listing, make_services


def asset_urls(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/(?:static|vendor)/[^"]+)"', page)


def test_static_urls_are_fingerprinted_and_immutable(client):
    urls = asset_urls(client.get("/").get_data(as_text=True)) + asset_urls(client.get("/map").get_data(as_text=True))
    assert any(u.startswith("/static/app.css?v=") for u in urls)
    assert any(u.startswith("/static/app.js?v=") for u in urls)
    assert any(u.startswith("/static/map.js?v=") for u in urls)
    assert any(u.startswith("/vendor/leaflet/leaflet.js?v=") for u in urls)
    for url in urls:
        url = html.unescape(url)
        for encoding in ("", "gzip", "br"):
            response = client.get(url, headers={"Accept-Encoding": encoding})
            assert response.status_code == 200
            directives = {d.strip() for d in response.headers["Cache-Control"].split(",")}
            # no-cache (send_file's default) would make the browser revalidate every time.
            assert {"public", "immutable", "max-age=31536000"} <= directives and "no-cache" not in directives, url


CHROME = "gzip, deflate, br, zstd"


def decoded(response) -> bytes:
    encoding = response.headers.get("Content-Encoding")
    if encoding == "br":
        return brotli.decompress(response.data)
    if encoding == "gzip":
        return gzip.decompress(response.data)
    assert encoding is None, encoding
    return response.data


def test_static_text_is_precompressed_with_brotli_or_gzip(client):
    urls = [html.unescape(u) for u in asset_urls(client.get("/map").get_data(as_text=True))]
    texts = [u for u in urls if ".js" in u or ".css" in u] + ["/sw.js"]
    assert len(texts) >= 5
    for url in texts:
        plain = client.get(url, headers={"Accept-Encoding": "identity"})
        assert "Content-Encoding" not in plain.headers
        for offered, expected in ((CHROME, "br"), ("br", "br"), ("gzip", "gzip"), ("gzip;q=1, br;q=0.5", "gzip")):
            response = client.get(url, headers={"Accept-Encoding": offered})
            assert response.headers["Content-Encoding"] == expected, (url, offered)
            assert "Accept-Encoding" in response.headers["Vary"]
            assert decoded(response) == plain.data
            assert int(response.headers["Content-Length"]) == len(response.data) < len(plain.data)
            assert "Accept-Ranges" not in response.headers
            etag = response.headers["ETag"]
            assert etag.startswith('W/"') and etag.endswith(f'-{expected}"')
            again = client.get(url, headers={"Accept-Encoding": offered, "If-None-Match": etag})
            assert again.status_code == 304 and again.data == b""
    # Leaflet at brotli 11 (made in the background, a fast brotli meanwhile): a quarter of the file.
    leaflet = next(u for u in urls if "leaflet.js" in u)
    deadline = time.monotonic() + 30
    while len(body := client.get(leaflet, headers={"Accept-Encoding": CHROME}).data) >= 40_000:
        assert time.monotonic() < deadline, len(body)
        time.sleep(0.2)
    assert brotli.decompress(body) == client.get(leaflet, headers={"Accept-Encoding": "identity"}).data


def test_pages_and_json_are_compressed_with_brotli_or_gzip(client, session):
    make_services(session, *[listing(name=f"Servicio {i}") for i in range(20)])
    for url in ("/", "/search?lat=14.906&lon=-92.263", "/map?lat=14.906&lon=-92.263", "/map",
                "/api/v1/services/nearby?lat=14.906&lon=-92.263",
                "/api/v1/services.geojson?bbox=-93,14,-92,15", "/api/openapi.json"):
        plain = client.get(url, headers={"Accept-Encoding": "identity"})
        assert plain.status_code == 200 and "Content-Encoding" not in plain.headers, url
        for offered, expected in ((CHROME, "br"), ("gzip", "gzip")):
            response = client.get(url, headers={"Accept-Encoding": offered})
            assert response.headers.get("Content-Encoding") == expected, (url, offered)
            if "/map" not in url:  # the map page's CSP nonce differs per request
                assert decoded(response) == plain.data, url
            assert len(response.data) < len(plain.data) / 2, url


def test_stale_or_missing_fingerprint_is_revalidated(client):
    response = client.get("/static/app.css?v=0000000000")
    assert "immutable" not in response.headers["Cache-Control"]
    assert "max-age=3600" in response.headers["Cache-Control"]
    response = client.get("/vendor/leaflet/images/marker-icon.png")  # named by Leaflet's CSS
    assert "immutable" not in response.headers["Cache-Control"]


def test_leaflet_comes_from_the_package(client):
    response = client.get("/vendor/leaflet/leaflet.js")
    assert response.status_code == 200 and b"Leaflet" in response.data[:400]
    assert client.get("/vendor/leaflet/images/marker-icon.png").status_code == 200
    assert client.get("/vendor/leaflet/../../../../etc/passwd").status_code == 404


def test_service_worker_is_served_from_the_root(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.content_type.startswith("text/javascript")
    assert b"X-Saved-At" in response.data


def test_hostile_static_names_are_404_not_500(client):
    for name in ("%00", "a%00b.css", "x" * 5000, "..%2f..%2fetc%2fpasswd"):
        assert client.get(f"/static/{name}").status_code == 404
        assert client.get(f"/vendor/leaflet/{name}").status_code == 404
