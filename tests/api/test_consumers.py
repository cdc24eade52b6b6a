"""For consumers: CORS, ETag/Cache-Control/304, per-IP rate limits with Retry-After, licence."""
from __future__ import annotations

import pytest

from mapservice.extensions import limiter
from tests.factories import listing, make_services


def test_api_root_states_the_licence(client):
    root = client.get("/api").get_json()
    assert root["license"] == "CC-BY-4.0"
    assert any(link["rel"] == "license" for link in root["links"])
    assert any(link["rel"] == "service-desc" and link["href"].endswith("/api/openapi.json") for link in root["links"])


def test_cors_on_public_reads_only(client, session):
    response = client.get("/api/v1/services.geojson", headers={"Origin": "https://partner.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "ETag" in response.headers["Access-Control-Expose-Headers"]
    preflight = client.options("/ogc/collections", headers={
        "Origin": "https://partner.example", "Access-Control-Request-Method": "GET"})  # fmt: skip
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    write = client.options("/api/v1/services", headers={
        "Origin": "https://partner.example", "Access-Control-Request-Method": "POST"})  # fmt: skip
    assert "POST" not in write.headers.get("Access-Control-Allow-Methods", "")
    page = client.get("/", headers={"Origin": "https://partner.example"})
    assert "Access-Control-Allow-Origin" not in page.headers


@pytest.mark.parametrize("url", ["/api/v1/services.geojson", "/ogc/collections/services/items", "/api/openapi.json",
                                 "/api/v1/services/nearby?lat=14.9&lon=-92.26", "/api"])  # fmt: skip
def test_etag_cache_control_and_304(client, session, url):
    make_services(session, listing())
    first = client.get(url)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert "max-age" in first.headers["Cache-Control"] and "public" in first.headers["Cache-Control"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    assert client.get(url, headers={"If-None-Match": '"stale"'}).status_code == 200


def test_etag_changes_when_the_data_changes(client, session):
    make_services(session, listing(name="Uno"))
    first = client.get("/api/v1/services.geojson").headers["ETag"]
    make_services(session, listing(name="Dos"))
    response = client.get("/api/v1/services.geojson", headers={"If-None-Match": first})
    assert response.status_code == 200 and response.headers["ETag"] != first


def test_per_ip_rate_limit_gives_429_with_retry_after(app, client, session):
    app.config["PUBLIC_RATE_LIMIT"] = "3 per minute"
    try:  # the client fixture starts the counters at zero
        statuses = [client.get("/ogc/conformance").status_code for _ in range(3)]
        over = client.get("/api/v1/services.geojson")  # one counter for the API and /ogc
        other_ip = client.get("/ogc/conformance", environ_base={"REMOTE_ADDR": "10.9.8.7"})
    finally:
        app.config["PUBLIC_RATE_LIMIT"] = "100000 per minute"
        limiter.reset()
    assert statuses == [200, 200, 200]
    assert over.status_code == 429
    assert int(over.headers["Retry-After"]) > 0
    assert over.get_json()["error"]["code"]
    assert other_ip.status_code == 200


def test_rate_limit_headers_on_writes_and_429s_not_on_public_reads(app, client, session):
    """Public reads skip the X-RateLimit-* headers (two more store round trips each); a
    write shows its limit, and a 429 says how long to wait in seconds."""
    read = client.get("/ogc/conformance")
    assert read.status_code == 200 and "X-RateLimit-Limit" not in read.headers
    write = client.post("/api/v1/services", json={}, headers={"Authorization": "Bearer msk_" + "x" * 30})
    assert write.status_code == 401
    assert int(write.headers["X-RateLimit-Limit"]) > 0 and "X-RateLimit-Remaining" in write.headers
    app.config["PUBLIC_RATE_LIMIT"] = "2 per minute"
    try:
        for _ in range(2):
            client.get("/ogc/conformance")
        over = client.get("/ogc/conformance")
    finally:
        app.config["PUBLIC_RATE_LIMIT"] = "100000 per minute"
        limiter.reset()
    assert over.status_code == 429
    assert over.headers["X-RateLimit-Limit"] == "2" and over.headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(over.headers["Retry-After"]) <= 61  # the rest of the one-minute window


def test_ogc_items_keep_their_etag_from_one_second_to_the_next(client, session, monkeypatch):
    import datetime as dt

    from mapservice.ogc import views

    make_services(session, listing())
    seconds = iter(range(10))

    class Clock(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime(2026, 11, 29, 12, 0, next(seconds), tzinfo=tz)

    monkeypatch.setattr(views, "datetime", Clock)
    first = client.get("/ogc/collections/services/items")
    again = client.get("/ogc/collections/services/items", headers={"If-None-Match": first.headers["ETag"]})
    assert first.get_json()["timeStamp"] == "2026-11-29T12:00:00Z"
    assert again.status_code == 304
    html = client.get("/ogc/collections/services/items?f=html")
    assert html.headers["ETag"] != first.headers["ETag"]
    html_again = client.get("/ogc/collections/services/items?f=html", headers={"If-None-Match": html.headers["ETag"]})
    assert html_again.status_code == 304
