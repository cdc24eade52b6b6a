"""Static files: fingerprinted, cached for a year, compressed; Leaflet from its package."""
from __future__ import annotations

import re


def asset_urls(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/(?:static|vendor)/[^"]+)"', page)


def test_static_urls_are_fingerprinted_and_immutable(client):
    page = client.get("/").get_data(as_text=True)
    urls = asset_urls(page)
    assert any(u.startswith("/static/app.css?v=") for u in urls)
    assert any(u.startswith("/static/app.js?v=") for u in urls)
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200
        assert "immutable" in response.headers["Cache-Control"]
        assert "max-age=31536000" in response.headers["Cache-Control"]


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


def test_responses_are_compressed(client):
    response = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert response.headers.get("Content-Encoding") == "gzip"
    # Static files are streamed: compressed with what a phone's browser offers.
    for url in asset_urls(client.get("/").get_data(as_text=True)):
        if ".css" not in url and ".js" not in url:
            continue  # a 300-byte icon is not worth compressing
        response = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
        assert response.headers.get("Content-Encoding") in {"br", "gzip", "deflate"}, url


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
