"""Server-rendered public pages work without JavaScript."""
from __future__ import annotations

from tests.factories import listing, make_services


def test_home_lists_needs(client):
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="es">' in page
    assert "Protección" in page and "Medios de vida" in page and "Formación" in page


def test_search_by_town_shows_nearest_first(client, session):
    make_services(session, listing(name="Lejos", lat=14.95), listing(name="Cerca", lat=14.906))
    page = client.get("/search?q=Tapachula").get_data(as_text=True)
    assert "Tapachula" in page
    assert page.index("Cerca") < page.index("Lejos")


def test_search_unknown_town(client):
    response = client.get("/search?q=zzzzqqqq")
    assert response.status_code == 200


def test_search_bad_coordinates_is_400_page(client):
    response = client.get("/search?lat=abc&lon=1")
    assert response.status_code == 400
    assert "text/html" in response.content_type


def test_service_page_marks_demo(client, session):
    from sqlalchemy import text

    (sid,) = make_services(session, listing(name="Demo service"))
    session.execute(text("UPDATE service SET is_demo = true WHERE id = :id"), {"id": sid})
    page = client.get(f"/services/{sid}").get_data(as_text=True)
    assert "Demo service" in page and 'class="demo"' in page
    assert client.get("/services/999999").status_code == 404
