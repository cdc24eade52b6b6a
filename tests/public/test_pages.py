"""Server-rendered public pages work without JavaScript, in Spanish and English."""
from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import text

from tests.factories import listing, make_services

TAPACHULA = "lat=14.906&lon=-92.263"  # canonical: 3 decimals (a precise link is redirected)


def result_names(page: str) -> list[str]:
    """Names of the result cards, in page order."""
    return re.findall(r'<li class="result">\s*<h2><a href="/services/\d+">([^<]+)</a>', page)


def test_home_lists_needs_and_subcategories(client):
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="es">' in page
    assert "Protección" in page and "Medios de vida" in page and "Formación" in page
    # Sub-categories one tap away, as plain links (no JavaScript needed).
    assert 'href="/search?category=protection.legal"' in page
    assert "Asistencia legal" in page
    assert 'href="/search?category=protection"' in page
    # "Use my location" is there for JavaScript to reveal; the town form works without it.
    assert "data-locate-form hidden" in page and 'name="q"' in page


def test_home_in_english_by_accept_language(client):
    page = client.get("/", headers={"Accept-Language": "en-US,en;q=0.8"}).get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Find help near you" in page and "Legal assistance" in page and "Quick exit" in page
    assert "Encuentra ayuda" not in page


def test_spanish_is_the_default(client):
    page = client.get("/", headers={"Accept-Language": "de-DE"}).get_data(as_text=True)
    assert '<html lang="es">' in page and "Encuentra ayuda cerca de ti" in page
    assert "Salida rápida" in page and "Usar mi ubicación" in page


def test_lang_switch_sets_only_a_plain_cookie(client):
    response = client.get("/?lang=en")
    assert '<html lang="en">' in response.get_data(as_text=True)
    cookies = response.headers.getlist("Set-Cookie")
    assert len(cookies) == 1 and cookies[0].startswith("lang=en;")
    page = client.get("/search").get_data(as_text=True)
    assert '<html lang="en">' in page


def test_anonymous_pages_set_no_cookie(client, session):
    (sid,) = make_services(session, listing())
    for path in ("/", f"/search?{TAPACHULA}", f"/services/{sid}", f"/map?{TAPACHULA}", "/offline", "/nope"):
        response = client.get(path)
        assert response.headers.getlist("Set-Cookie") == [], path


@pytest.mark.parametrize("path", ["/", "/search", "/search?q=Tapachula", "/offline", "/map", "/nope"])
def test_every_page_has_quick_exit_and_lang(client, path):
    page = client.get(path, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="en">' in page
    assert re.search(r'<a class="exit" href="https://[^"]+" rel="noreferrer" data-quick-exit>Quick exit</a>', page)


def test_search_by_town_shows_nearest_first(client, session):
    make_services(session, listing(name="Lejos", lat=14.95), listing(name="Cerca", lat=14.906))
    page = client.get("/search?q=Tapachula").get_data(as_text=True)
    assert "Cerca de Tapachula, Chiapas" in page
    names = result_names(page)
    assert names.index("Cerca") < names.index("Lejos")


def test_search_from_coordinates_names_the_nearest_town(client, session):
    make_services(session, listing(name="Aquí"))
    page = client.get(f"/search?{TAPACHULA}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Near your location (Tapachula, Chiapas)" in page
    assert result_names(page) == ["Aquí"]


def test_search_alternatives_are_namesakes_one_tap_away(client):
    page = client.get("/search?q=San Jose").get_data(as_text=True)
    alternatives = re.findall(r'<li><a href="/search\?lat=[-\d.]+&amp;lon=[-\d.]+">(San Jos[eé][^<]*)</a></li>', page)
    assert len(alternatives) >= 2
    # Tapachula is unique: no misleading "did you mean" list.
    assert "Not this place?" not in client.get("/search?q=Tapachula", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )


def test_result_card_has_everything(client, session):
    make_services(
        session,
        listing(
            name="Asesoría", phone="+529621234567", whatsapp="+529627654321", hours="24/7",
            languages=["es", "ht"], categories=["protection.legal", "protection.asylum"], free=True,
        ),
    )  # fmt: skip
    page = client.get(f"/search?{TAPACHULA}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Test Org" in page and "Asesoría" in page
    assert re.search(r'<strong class="dist">\d+ m</strong>', page)
    assert '<span class="state open">Open now</span>' in page
    assert '<span class="free">Free</span>' in page
    assert "Legal assistance · Asylum and refugee status procedures" in page
    assert "Languages: Spanish, Haitian Creole" in page
    assert 'href="tel:+529621234567"' in page
    assert 'href="https://wa.me/529627654321"' in page
    assert re.search(r'href="geo:14\.90560,-92\.26330" data-fallback="https://www\.openstreetmap\.org/', page)
    assert re.search(r'href="/services/\d+">Details', page)
    assert f'href="/map?{TAPACHULA.replace("&", "&amp;")}">Map</a>' in page


def test_result_card_in_spanish(client, session):
    make_services(session, listing(name="Asesoría", hours="24/7", languages=["es", "quc"]))
    page = client.get(f"/search?{TAPACHULA}").get_data(as_text=True)
    assert "Abierto ahora" in page and "Gratis" in page and "Idiomas: Español, K&#39;iche&#39;" in page
    assert "1 servicio, el más cercano primero" in page
    assert "Asistencia legal" in page


def test_closed_service_says_when_it_opens(client, session):
    # Open one minute a year, on a date far away: closed now, whatever the clock says.
    make_services(session, listing(name="Casi nunca", hours="Jan 01 00:00-00:01"))
    page = client.get(f"/search?{TAPACHULA}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<span class="state closed">Closed' in page


def test_confidential_result_has_no_directions_and_says_approximate(client, session):
    make_services(session, listing(name="Casa segura", confidential=True, address="Calle Secreta 1"))
    page = client.get(f"/search?{TAPACHULA}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Casa segura" in page and "approximate area" in page
    assert "Calle Secreta" not in page
    assert "geo:" not in page


def test_filters_population_and_language(client, session):
    make_services(
        session,
        listing(name="Para niñez", populations=["children"], languages=["es"]),
        listing(name="Para mujeres", populations=["women"], languages=["es", "en"]),
    )
    page = client.get(f"/search?{TAPACHULA}&population=children").get_data(as_text=True)
    assert result_names(page) == ["Para niñez"]
    page = client.get(f"/search?{TAPACHULA}&language=en").get_data(as_text=True)
    assert result_names(page) == ["Para mujeres"]
    # The filter form is a plain GET form carrying the position.
    assert '<option value="en" selected>' in page
    assert '<input type="hidden" name="lat" value="14.906">' in page


def test_empty_results_suggest_wider_search(client, session):
    make_services(session, listing(name="Lejana", lat=15.2, categories=["protection.asylum"]))
    page = client.get(
        f"/search?{TAPACHULA}&category=protection.legal&radius_km=5", headers={"Accept-Language": "en"}
    ).get_data(as_text=True)
    assert result_names(page) == []
    assert "No service matches this search here." in page
    assert f'href="/search?{TAPACHULA.replace("&", "&amp;")}&amp;category=protection.legal">Search at any distance' in page
    assert "category=protection&amp;radius_km=5" in page  # all of the parent category
    assert "Search every kind of help" in page


def test_search_unknown_town(client):
    response = client.get("/search?q=zzzzqqqq", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert "We could not find the town “zzzzqqqq”" in response.get_data(as_text=True)


def test_search_without_position_keeps_the_category(client):
    page = client.get("/search?category=protection.shelter").get_data(as_text=True)
    assert "<h1>Albergue y alojamiento</h1>" in page
    assert page.count('<input type="hidden" name="category" value="protection.shelter">') == 2


@pytest.mark.parametrize(
    "query", ["lat=abc&lon=1", "lat=95&lon=1", "category=nope", "population=x", "radius_km=-3&q=Tapachula",
              "q=" + "x" * 150, "lat=nan&lon=1", "language=DROP%20TABLE"],
)  # fmt: skip
def test_bad_search_values_are_a_400_page(client, query):
    response = client.get(f"/search?{query}")
    assert response.status_code == 400
    assert "text/html" in response.content_type
    assert 'role="alert"' in response.get_data(as_text=True)


def test_service_page_has_everything(client, session):
    (sid,) = make_services(
        session,
        listing(name="Clínica", phone="+529621234567", whatsapp="+529627654321", email="a@example.org",
                website="https://example.org/x", hours="Mo-Fr 08:00-16:00", populations=["children"],
                address="Av. Central 10"),
    )  # fmt: skip
    session.execute(text("UPDATE service SET last_verified = '2026-03-05' WHERE id = :id"), {"id": sid})
    page = client.get(f"/services/{sid}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "<h1>Clínica</h1>" in page
    assert "+52 962 123 4567" in page and 'href="tel:+529621234567"' in page
    assert "Children and adolescents" in page and "Av. Central 10" in page
    # A readable week: seven rows, weekdays named, Saturday/Sunday closed.
    rows = re.findall(r"<tr[^>]*><th scope=\"row\">(\w+)", page)
    assert sorted(rows) == sorted(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"])
    assert page.count("08:00–16:00") == 5
    assert "Last verified by the organization: March 5, 2026" in page
    assert 'href="#report"' in page and 'id="report"' in page
    assert "geo:" in page and "openstreetmap.org" in page
    assert "Demo data" not in page


def test_service_page_in_spanish(client, session):
    (sid,) = make_services(session, listing(name="Clínica", hours="Mo-Fr 08:00-16:00"))
    page = client.get(f"/services/{sid}").get_data(as_text=True)
    assert "Lunes" in page and "Horario" in page and "Cómo llegar" in page
    assert "Reportar un problema" in page


def test_service_page_marks_demo(client, session):
    (sid,) = make_services(session, listing(name="Demo service"))
    session.execute(text("UPDATE service SET is_demo = true WHERE id = :id"), {"id": sid})
    page = client.get(f"/services/{sid}").get_data(as_text=True)
    assert "Demo service" in page and 'class="demo"' in page
    assert client.get("/services/999999").status_code == 404
    assert client.get("/services/99999999999").status_code == 404


def test_confidential_service_page_hides_the_place(client, session):
    (sid,) = make_services(session, listing(name="Refugio", confidential=True, address="Calle Oculta 7"))
    page = client.get(f"/services/{sid}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Calle Oculta" not in page and "geo:" not in page
    assert "This is a confidential place" in page
    exact = session.execute(
        text("SELECT ST_Y(l.geom), ST_X(l.geom) FROM location l JOIN service_at_location sal "
             "ON sal.location_id = l.id WHERE sal.service_id = :id"), {"id": sid},
    ).one()  # fmt: skip
    assert f"{exact[0]:.4f}" not in page and f"{exact[1]:.4f}" not in page


def test_not_found_page_is_translated(client):
    response = client.get("/nope", headers={"Accept-Language": "en"})
    assert response.status_code == 404 and "We cannot find this page" in response.get_data(as_text=True)
    assert "No encontramos esta página" in client.get("/nope").get_data(as_text=True)


def test_week_starts_today(app):
    from mapservice.public.presenters import week_hours

    with app.test_request_context(headers={"Accept-Language": "en"}):
        week = week_hours("Mo-Fr 08:00-12:00,14:00-18:00; Sa 22:00-02:00", "America/Guatemala",
                          today=date(2026, 11, 29))  # fmt: skip
    assert [d.weekday for d in week][:2] == ["Sunday", "Monday"] and week[0].today
    assert week[0].ranges == ["00:00–02:00"]  # Saturday night runs past midnight
    assert week[1].ranges == ["08:00–12:00", "14:00–18:00"]
    assert week[6].ranges == ["22:00–24:00"]
