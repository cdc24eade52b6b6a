"""Public search: snapped canonical URLs, ETag, short public caching, 304."""
from __future__ import annotations

from mapservice.http_cache import snap
from tests.factories import listing, make_services


def test_snap_rounds_to_three_decimals_canonically():
    assert snap("14.905612") == "14.906"
    assert snap("-92.26333") == "-92.263"
    assert snap("14.9") == "14.9"
    assert snap("14.900") == "14.9"
    assert snap("-0.0001") == "0"
    assert snap("abc") is None and snap("nan") is None and snap("1e400") is None


def test_precise_search_redirects_to_the_snapped_url(client):
    response = client.get("/search?lat=14.905612&lon=-92.263331&category=protection")
    assert response.status_code == 301
    location = response.headers["Location"]
    assert "lat=14.906" in location and "lon=-92.263" in location and "category=protection" in location
    assert "14.9056" not in location and "92.2633" not in location
    # Already canonical, or not a number (the page's own 400): no redirect.
    assert client.get("/search?lat=14.906&lon=-92.263").status_code == 200
    assert client.get("/search?lat=abc&lon=-92.263").status_code == 400


def test_search_page_and_api_are_cacheable_and_conditional(client, session):
    make_services(session, *[listing() for _ in range(5)])
    for url in ("/search?lat=14.906&lon=-92.263", "/api/v1/services/nearby?lat=14.906&lon=-92.263"):
        first = client.get(url)
        assert first.status_code == 200
        assert first.headers["ETag"]
        assert "public" in first.headers["Cache-Control"] and "max-age=60" in first.headers["Cache-Control"]
        assert "Accept-Language" in first.headers["Vary"]
        again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and again.data == b""
        zipped = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["Content-Encoding"] == "gzip" and zipped.headers["ETag"] != first.headers["ETag"]
        again = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]})
        assert again.status_code == 304


def test_responses_that_set_a_cookie_are_not_public(client):
    response = client.get("/search?lat=14.906&lon=-92.263&lang=en")
    assert response.status_code == 200
    assert "Set-Cookie" in response.headers
    assert "public" not in response.headers.get("Cache-Control", "")
