"""OGC API – Features under /ogc: conformance, collections, bbox paging, encodings, OWSLib."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text

from mapservice.extensions import db
from tests.factories import listing, make_services

# Tapachula (MX) and around; Guatemala City is outside every bbox below.
TAPACHULA = [(14.90 + i * 0.01, -92.26 + i * 0.01) for i in range(12)]


def _services(session, n=12):
    return make_services(
        session,
        *[listing(name=f"Servicio {i}", lat=lat, lon=lon, categories=["protection.legal" if i % 2 else "livelihoods.employment"])
          for i, (lat, lon) in enumerate(TAPACHULA[:n])],
        listing(name="Lejos", lat=14.6349, lon=-90.5069, country="GT"),
    )  # fmt: skip


def test_landing_conformance_and_collections(client, session):
    landing = client.get("/ogc").get_json()
    rels = {link["rel"] for link in landing["links"]}
    assert {"self", "conformance", "data", "license"} <= rels
    assert landing["license"] == "CC-BY-4.0"
    assert client.get("/ogc/").status_code == 200
    conformance = client.get("/ogc/conformance").get_json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conformance
    assert any(c.endswith("/conf/html") for c in conformance)
    collections = client.get("/ogc/collections").get_json()["collections"]
    assert [c["id"] for c in collections] == ["services", "admin_areas"]
    assert all(c["itemType"] == "feature" for c in collections)


def test_items_page_by_next_and_prev_links(client, session):
    ids = _services(session)
    bbox = "-92.30,14.85,-92.10,15.05"
    first = client.get(f"/ogc/collections/services/items?bbox={bbox}&limit=5")
    assert first.mimetype == "application/geo+json"
    page = first.get_json()
    assert page["numberMatched"] == 12 and page["numberReturned"] == 5
    seen = [f["id"] for f in page["features"]]
    assert not any(link["rel"] == "prev" for link in page["links"])
    while (nxt := next((link["href"] for link in page["links"] if link["rel"] == "next"), None)) is not None:
        page = client.get(nxt).get_json()
        seen += [f["id"] for f in page["features"]]
        assert any(link["rel"] == "prev" for link in page["links"])
    assert seen == sorted(ids[:12])
    assert page["numberReturned"] == 2


def test_category_filter_and_feature_properties(client, session):
    ids = _services(session)
    page = client.get("/ogc/collections/services/items?category=protection&limit=100").get_json()
    assert {f["id"] for f in page["features"]} == {ids[i] for i in range(1, 12, 2)} | {ids[12]}
    feature = client.get(f"/ogc/collections/services/items/{ids[1]}").get_json()
    assert feature["type"] == "Feature" and feature["id"] == ids[1]
    nearby = client.get(f"/api/v1/services/{ids[1]}").get_json()
    assert feature["properties"] == nearby and "distance_km" not in feature["properties"]
    assert feature["geometry"] == {"type": "Point", "coordinates": [nearby["location"]["lon"], nearby["location"]["lat"]]}


def test_limit_default_and_cap(client, session):
    _services(session)
    assert client.get("/ogc/collections/services/items").get_json()["numberReturned"] == 10
    assert client.get("/ogc/collections/services/items?limit=5000").get_json()["numberReturned"] == 13


def test_admin_areas_collection(client, session):
    page = client.get("/ogc/collections/admin_areas/items?bbox=-92.3,14.8,-92.2,14.95").get_json()
    assert "MX-CHP" in [f["id"] for f in page["features"]]
    area = client.get("/ogc/collections/admin_areas/items/MX-CHP").get_json()
    assert area["properties"]["name"] == "Chiapas" and area["geometry"]["type"] in ("Polygon", "MultiPolygon")


@pytest.mark.parametrize(
    "url, status",
    [
        ("/ogc/collections/nope/items", 404),
        ("/ogc/collections/services/items/0", 404),
        ("/ogc/collections/services/items/abc", 404),
        ("/ogc/collections/services/items/99999999999", 404),
        ("/ogc/collections/admin_areas/items/XX", 404),
        ("/ogc/collections/services/items?bbox=1,2,3", 400),
        ("/ogc/collections/services/items?bbox=-92,15,-93,14,x", 400),
        ("/ogc/collections/services/items?bbox=0,10,1,5", 400),
        ("/ogc/collections/services/items?bbox=0,0,1,nan", 400),
        ("/ogc/collections/services/items?limit=0", 400),
        ("/ogc/collections/services/items?offset=-1", 400),
        ("/ogc/collections/services/items?category=nope", 400),
        ("/ogc/collections/services/items?colour=red", 400),
        ("/ogc/collections/admin_areas/items?category=protection", 400),
        ("/ogc?f=xml", 400),
    ],
)
def test_bad_requests_get_json_errors(client, session, url, status):
    response = client.get(url)
    assert response.status_code == status
    assert set(response.get_json()["error"]) == {"code", "message"}


def test_html_encoding_by_f_and_accept(client, session):
    ids = _services(session, 3)
    for url in ("/ogc?f=html", "/ogc/collections?f=html", "/ogc/conformance?f=html",
                "/ogc/collections/services?f=html", "/ogc/collections/services/items?f=html&limit=2",
                f"/ogc/collections/services/items/{ids[0]}?f=html", "/ogc/collections/admin_areas/items?f=html"):  # fmt: skip
        response = client.get(url)
        assert response.status_code == 200 and response.mimetype == "text/html", url
    page = client.get("/ogc/collections/services/items?limit=2", headers={"Accept": "text/html,*/*;q=0.8"})
    assert page.mimetype == "text/html" and "Servicio 0" in page.get_data(as_text=True)
    assert 'rel="next"' in page.get_data(as_text=True)
    assert client.get("/ogc/collections", headers={"Accept": "application/json"}).mimetype == "application/json"


HTML_PAGES = ["/ogc?f=html", "/ogc/conformance?f=html", "/ogc/collections?f=html", "/ogc/collections/services?f=html",
              "/ogc/collections/services/items?f=html&limit=2", "/ogc/collections/admin_areas/items?f=html&limit=2"]
# A phrase of each page above, in each language.
PHRASES = {
    "es": ["Acceso OGC API – Features al directorio", "Clases de conformidad", "Servicios para personas desplazadas",
           "Ver los elementos", "2 de 13 elementos.", "Divisiones administrativas"],
    "en": ["OGC API – Features access to the public directory", "Conformance classes", "Services for displaced people",
           "Browse the features", "2 of 13 features.", "Administrative areas"],
}  # fmt: skip


@pytest.mark.parametrize("lang", ["es", "en"])
def test_html_pages_speak_the_visitors_language(client, session, lang):
    _services(session)
    other = "en" if lang == "es" else "es"
    for url, phrase, foreign in zip(HTML_PAGES, PHRASES[lang], PHRASES[other]):
        response = client.get(url, headers={"Accept-Language": lang})
        page = response.get_data(as_text=True)
        assert response.status_code == 200, url
        assert f'<html lang="{lang}">' in page, url
        assert phrase in page and foreign not in page, (url, phrase)
        assert {"Accept-Language", "Cookie"} <= set(response.vary), url  # a shared cache keeps both languages apart
    # Translated text is escaped like any other: the placeholder shows, it is not a tag.
    collections = client.get("/ogc/collections?f=html", headers={"Accept-Language": lang}).get_data(as_text=True)
    assert ("category=&lt;código&gt;." if lang == "es" else "category=&lt;code&gt;.") in collections
    feature = client.get("/ogc/collections/services/items?limit=1").get_json()["features"][0]
    item = client.get(f"/ogc/collections/services/items/{feature['id']}?f=html", headers={"Accept-Language": lang})
    text_ = item.get_data(as_text=True)
    if lang == "es":
        assert "Intermediación laboral y empleo" in text_
        assert "<dt>Categorías</dt>" in text_ and "Punto (longitud, latitud)" in text_
    else:
        assert "Job placement and employment services" in text_
        assert "<dt>Categories</dt>" in text_ and "Point (longitude, latitude)" in text_


def test_json_stays_english_whatever_the_language(client, session):
    _services(session, 2)
    for lang in ("es", "en"):
        collections = client.get("/ogc/collections", headers={"Accept-Language": lang}).get_json()
        assert collections["collections"][0]["title"] == "Services for displaced people"
        assert collections["links"][0]["title"] == "This document as JSON"


def test_the_spanish_default_without_accept_language(client, session):
    page = client.get("/ogc/collections?f=html").get_data(as_text=True)
    assert '<html lang="es">' in page and "Colecciones" in page and "Divisiones administrativas de primer nivel" in page


def test_confidential_service_is_generalized(client, session):
    (sid,) = make_services(session, listing(name="Refugio", lat=14.91234, lon=-92.25678, address="Calle Secreta 7",
                                            confidential=True))  # fmt: skip
    for url in ("/ogc/collections/services/items?limit=1000", f"/ogc/collections/services/items/{sid}",
                f"/ogc/collections/services/items/{sid}?f=html", "/ogc/collections/services/items?f=html"):  # fmt: skip
        body = client.get(url).get_data(as_text=True)
        assert "Refugio" in body
        assert "Secreta" not in body and "14.9123" not in body and "-92.2567" not in body
    feature = client.get(f"/ogc/collections/services/items/{sid}").get_json()
    assert feature["properties"]["location"]["approximate"] is True
    assert feature["properties"]["location"]["address"] is None


def test_owslib_pages_through_a_bbox_like_the_database(app, committed_services, live_server):
    from owslib.ogcapi.features import Features

    committed_services(
        *[listing(organization="OGC live test", name=f"Live {i}", lat=lat, lon=lon) for i, (lat, lon) in enumerate(TAPACHULA)],
        listing(organization="OGC live test", name="Live shelter", lat=14.93, lon=-92.23, confidential=True),
        listing(organization="OGC live test", name="Live far", lat=14.6349, lon=-90.5069, country="GT"),
    )  # fmt: skip
    bbox = [-92.255, 14.88, -92.10, 15.2]
    api = Features(f"{live_server}/ogc/")
    assert set(api.feature_collections()) == {"services", "admin_areas"}
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in api.conformance()["conformsTo"]

    features, offset, pages = [], 0, 0
    while True:
        page = api.collection_items("services", bbox=bbox, limit=4, offset=offset)
        features += page["features"]
        pages += 1
        nxt = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
        if nxt is None:
            break
        offset = int(parse_qs(urlsplit(nxt).query)["offset"][0])
    with app.app_context():
        expected = db.session.execute(
            text(
                "SELECT s.id, ST_X(l.public_geom), ST_Y(l.public_geom) FROM service s "
                "JOIN service_at_location sal ON sal.service_id = s.id JOIN location l ON l.id = sal.location_id "
                "WHERE s.status = 'active' AND s.deleted_at IS NULL "
                "AND ST_X(l.public_geom) BETWEEN :minx AND :maxx AND ST_Y(l.public_geom) BETWEEN :miny AND :maxy "
                "ORDER BY s.id"
            ),
            dict(zip(("minx", "miny", "maxx", "maxy"), bbox)),
        ).all()
        db.session.remove()
    assert pages >= 3 and page["numberMatched"] == len(expected) >= 9
    assert [(f["id"], *f["geometry"]["coordinates"]) for f in features] == [
        (sid, round(x, 6), round(y, 6)) for sid, x, y in expected
    ]
    one = api.collection_item("services", str(expected[0][0]))
    assert one["properties"]["name"].startswith("Live")
