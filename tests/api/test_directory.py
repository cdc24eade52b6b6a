"""Public JSON API: shapes, filters, and JSON 400s for bad input."""
from __future__ import annotations

import pytest

from tests.factories import listing, make_services

RESULT_KEYS = {
    "id", "name", "organization", "categories", "distance_km", "location", "phone", "whatsapp",
    "email", "website", "languages", "populations", "free", "hours", "last_verified",
}  # fmt: skip


def test_nearby_shape_and_order(client, session):
    far, near = make_services(
        session,
        listing(name="Far", lat=14.95, lon=-92.25, phone="+529626251234", hours="Mo-Fr 08:00-16:00"),
        listing(name="Near", lat=14.906, lon=-92.2635, categories=["protection.shelter"]),
    )
    body = client.get("/api/v1/services/nearby?lat=14.9056&lon=-92.2633").get_json()
    results = body["results"]
    assert [r["id"] for r in results] == [near, far]
    assert RESULT_KEYS <= set(results[0])
    assert results[0]["organization"]["name"] == "Test Org"
    assert set(results[0]["location"]) == {"lat", "lon", "approximate", "address"}
    assert results[0]["distance_km"] < results[1]["distance_km"]
    assert results[1]["phone"] == "+529626251234"


def test_category_matches_children(client, session):
    legal, shelter, job = make_services(
        session,
        listing(categories=["protection.legal"]),
        listing(categories=["protection.shelter"]),
        listing(categories=["livelihoods.employment"]),
    )
    ids = {r["id"] for r in client.get("/api/v1/services/nearby?lat=14.9&lon=-92.26&category=protection").get_json()["results"]}
    assert ids == {legal, shelter}
    ids = {r["id"] for r in client.get("/api/v1/services/nearby?lat=14.9&lon=-92.26&category=protection.legal").get_json()["results"]}
    assert ids == {legal}


def test_no_distance_limit_without_radius(client, session):
    (panama,) = make_services(session, listing(country="PA", lat=8.98, lon=-79.52))
    body = client.get("/api/v1/services/nearby?lat=32.5&lon=-117.0").get_json()
    assert [r["id"] for r in body["results"]] == [panama]
    assert body["results"][0]["distance_km"] > 3000
    body = client.get("/api/v1/services/nearby?lat=32.5&lon=-117.0&radius_km=100").get_json()
    assert body["results"] == []


def test_limit(client, session):
    make_services(session, *[listing(lat=14.9 + i / 1000) for i in range(5)])
    assert len(client.get("/api/v1/services/nearby?lat=14.9&lon=-92.26&limit=3").get_json()["results"]) == 3
    assert len(client.get("/api/v1/services/nearby?lat=14.9&lon=-92.26").get_json()["results"]) == 5


@pytest.mark.parametrize(
    "query",
    [
        "lat=abc&lon=-92", "lat=91&lon=-92", "lat=NaN&lon=-92", "lat=1e400&lon=-92", "lat=14&lon=inf",
        "lat=14&lon=-92&limit=-5", "lat=14&lon=-92&limit=0", "lat=14&lon=-92&limit=101",
        "lat=14&lon=-92&limit=abc", "lat=14%00&lon=-92", "lon=-92", "lat=14", "",
        "lat=14&lon=-92&category=nope", "lat=14&lon=-92&population=%00", "lat=14&lon=-92&radius_km=-1",
        "lat=14&lon=-92&language=DROP%20TABLE", "lat=14&lon=-92&limit=99999999999999999999",
    ],
)  # fmt: skip
def test_bad_queries_get_json_400(client, query):
    response = client.get(f"/api/v1/services/nearby?{query}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] and error["message"]


def test_service_by_id(client, session):
    (sid,) = make_services(session, listing(name="Asilo"))
    body = client.get(f"/api/v1/services/{sid}").get_json()
    assert body["name"] == "Asilo" and "distance_km" not in body
    for missing in (sid + 1000, 99999999999):
        response = client.get(f"/api/v1/services/{missing}")
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"


def test_places(client):
    body = client.get("/api/v1/places?q=tapachula").get_json()
    assert body[0]["name"] == "Tapachula" and body[0]["country"] == "MX" and body[0]["admin1"] == "Chiapas"
    assert set(body[0]) == {"name", "country", "admin1", "lat", "lon", "population"}
    # Accents and case do not matter.
    assert client.get("/api/v1/places?q=METETI").get_json()[0]["name"] == "Metetí"
    assert client.get("/api/v1/places?q=Esquipulas").get_json()[0]["country"] == "GT"
    assert client.get("/api/v1/places?q=").status_code == 400
    assert client.get("/api/v1/places?q=zzzzqqqq").get_json() == []


def test_unknown_api_path_is_json_404(client):
    response = client.get("/api/v1/nothing")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
