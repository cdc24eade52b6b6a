"""Public search: snapped canonical URLs, ETag, short public caching, 304."""
from __future__ import annotations

import html
import re
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from mapservice.http_cache import canonical_coordinate, snap
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


def test_canonical_coordinate_is_three_decimals_without_trailing_zeros():
    assert canonical_coordinate(14.905612) == "14.906"
    assert canonical_coordinate(-92.26333) == "-92.263"
    assert canonical_coordinate(14.9) == "14.9" and canonical_coordinate(15) == "15"
    assert canonical_coordinate(-0.0001) == "0"
    assert canonical_coordinate(Decimal("9.92815")) == "9.928"
    assert snap("14.900") == "14.9" and snap(" 14.906") == "14.906" and snap("1.4906e1") == "14.906"
    assert snap("abc") is None and snap("nan") is None and snap("1e400") is None


@given(st.floats(min_value=-180, max_value=180, allow_nan=False))
def test_snapping_is_idempotent_and_within_half_a_thousandth(value):
    text = canonical_coordinate(value)
    assert snap(text) == text  # a canonical URL is never redirected again
    assert abs(float(text) - value) <= 0.0005 + 1e-12
    assert len(text.partition(".")[2]) <= 3


def test_precise_search_and_map_redirect_to_the_canonical_url(client):
    for path in ("/search", "/map"):
        response = client.get(f"{path}?category=protection&lat=14.905612&lon=-92.263331&lang=en")
        assert response.status_code == 301
        location = response.headers["Location"]
        assert location == f"{path}?category=protection&lat=14.906&lon=-92.263&lang=en"
        assert client.get(location).status_code == 200
        # Already canonical, or not a number (the page's own 400): no redirect.
        assert client.get(f"{path}?lat=14.906&lon=-92.263").status_code == 200
        assert client.get(f"{path}?lat=14.9&lon=-92").status_code == 200
        assert client.get(f"{path}?lat=abc&lon=-92.263").status_code == 400
        assert client.get(f"{path}?lat=14.90&lon=-92.2630").headers["Location"] == f"{path}?lat=14.9&lon=-92.263"
        assert client.head(f"{path}?lat=14.9056&lon=-92.2633").status_code == 301


def test_the_site_links_canonical_coordinates(client, session):
    (sid,) = make_services(session, listing(lat=14.905612, lon=-92.263331))
    pages = [
        client.get("/search?q=Tapachula").get_data(as_text=True),
        client.get("/search?lat=14.906&lon=-92.263").get_data(as_text=True),
        client.get("/map?q=Tapachula").get_data(as_text=True),
        client.get(f"/services/{sid}").get_data(as_text=True),
    ]
    links = [html.unescape(u) for page in pages for u in re.findall(r'href="(/(?:search|map)\?[^"]*lat=[^"]+)"', page)]
    hidden = [v for page in pages for v in re.findall(r'name="(?:lat|lon)" value="([^"]+)"', page)]
    assert links and hidden
    for link in links:
        assert client.get(link).status_code in (200, 400), link  # never a redirect
        for value in re.findall(r"(?:lat|lon)=([^&]+)", link):
            assert snap(value) == value, link
    assert all(snap(v) == v for v in hidden)


def test_nearby_api_searches_from_the_rounded_point_without_redirect(client, session):
    make_services(session, listing(name="Here", lat=14.906, lon=-92.263))
    precise = client.get("/api/v1/services/nearby?lat=14.9056123&lon=-92.2633441&limit=1")
    canonical = client.get("/api/v1/services/nearby?lat=14.906&lon=-92.263&limit=1")
    assert precise.status_code == canonical.status_code == 200
    assert precise.get_json() == canonical.get_json()
    assert precise.get_json()["results"][0]["distance_km"] == 0
    assert precise.headers["Content-Location"] == "/api/v1/services/nearby?lat=14.906&lon=-92.263&limit=1"
    assert "Content-Location" not in canonical.headers
    # The same body: the same ETag, so a cache revalidates either URL.
    assert precise.headers["ETag"] == canonical.headers["ETag"]


def test_map_page_is_never_shared_by_caches(client, session):
    make_services(session, listing())
    response = client.get("/map?lat=14.906&lon=-92.263")
    # Its inline script carries this request's CSP nonce: a cached copy would reuse it.
    assert response.status_code == 200 and "public" not in response.headers.get("Cache-Control", "")
    assert 'nonce="' in response.get_data(as_text=True)
