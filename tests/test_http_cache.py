"""Public search: ETag, short public caching, 304."""
from __future__ import annotations

from tests.factories import listing, make_services


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
