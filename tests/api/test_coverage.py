"""Coverage API: the contract's shapes, category children, public-only counts, JSON 400s."""
from __future__ import annotations

import pytest

from tests.factories import listing, make_services


def test_coverage_shape_and_gaps(client, session):
    make_services(
        session,
        listing(country="HN", lat=14.0818, lon=-87.2068, categories=["protection.legal"]),  # Tegucigalpa, HN-FM
        listing(country="HN", lat=15.5042, lon=-88.0250, categories=["protection.shelter"]),  # San Pedro Sula, HN-CR
        listing(country="HN", lat=15.5100, lon=-88.0300, categories=["training.language"]),
    )
    body = client.get("/api/v1/coverage?country=hn&category=protection").get_json()
    assert set(body) == {"country", "category", "areas", "gaps"}
    assert body["country"] == "HN" and body["category"] == "protection"
    counts = {a["code"]: a["services"] for a in body["areas"]}
    assert counts["HN-FM"] == 1 and counts["HN-CR"] == 1
    assert len(counts) == 18 and all(set(a) == {"code", "name", "services"} for a in body["areas"])
    assert set(body["gaps"]) == {code for code, n in counts.items() if n == 0}
    legal = client.get("/api/v1/coverage?country=HN&category=protection.legal").get_json()
    assert {a["code"]: a["services"] for a in legal["areas"]}["HN-CR"] == 0
    everything = client.get("/api/v1/coverage?country=HN").get_json()
    assert everything["category"] is None
    assert {a["code"]: a["services"] for a in everything["areas"]}["HN-CR"] == 2


def test_gaps_shape_order_and_threshold(client, session):
    make_services(session, listing(country="HN", lat=14.0818, lon=-87.2068, categories=["protection.legal"]))
    body = client.get("/api/v1/coverage/gaps?country=HN&category=protection&beyond_km=50").get_json()
    places = body["places"]
    assert places and all(set(p) == {"name", "lat", "lon", "population", "nearest_km"} for p in places)
    assert all(p["nearest_km"] > 50 for p in places)
    assert [p["population"] for p in places] == sorted((p["population"] for p in places), reverse=True)
    names = {p["name"] for p in places}
    assert "San Pedro Sula" in names and "Tegucigalpa" not in names
    none = client.get("/api/v1/coverage/gaps?country=HN&category=livelihoods&beyond_km=50").get_json()
    assert all(p["nearest_km"] is None for p in none["places"])


@pytest.mark.parametrize(
    "query",
    [
        "/api/v1/coverage",
        "/api/v1/coverage?country=XX",
        "/api/v1/coverage?country=USA",
        "/api/v1/coverage?country=%00",
        "/api/v1/coverage?country=HN&category=nope",
        "/api/v1/coverage/gaps?country=HN",
        "/api/v1/coverage/gaps?country=HN&beyond_km=0",
        "/api/v1/coverage/gaps?country=HN&beyond_km=-5",
        "/api/v1/coverage/gaps?country=HN&beyond_km=abc",
        "/api/v1/coverage/gaps?country=HN&beyond_km=nan",
        "/api/v1/coverage/gaps?country=HN&beyond_km=inf",
        "/api/v1/coverage/gaps?country=HN&beyond_km=1e9",
        "/api/v1/coverage/gaps?country=ZZ&beyond_km=10",
        "/api/v1/coverage/gaps?country=HN&category=protection..x&beyond_km=10",
    ],
)
def test_bad_input_is_a_json_400(client, query):
    response = client.get(query)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] in {"missing_parameter", "invalid_parameter"} and error["message"]
