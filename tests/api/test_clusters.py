"""Clustered services for a country-wide map: counts add up, capped, public points only."""
from __future__ import annotations

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
