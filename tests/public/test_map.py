"""/map: a Folium map of the search results with nothing loaded from another host."""
from __future__ import annotations

import json
import re

from tests.factories import listing, make_services

TAPACHULA = "lat=14.906&lon=-92.263"  # canonical: 3 decimals (a precise link is redirected)
HOSTILE = ["${alert(1)}", "\\`;alert(2);`", "<img src=x onerror=alert(3)>", "</script><script>alert(4)</script>"]


def scripts(page: str) -> list[str]:
    return re.findall(r"<script[^>]*>(.*?)</script>", page, flags=re.S)


def test_map_page_draws_the_outline_basemap_by_default(client, session):
    make_services(session, listing(name="Uno"))
    page = client.get(f"/map?{TAPACHULA}").get_data(as_text=True)
    assert 'data-basemap-url="/api/v1/basemap"' in page
    assert re.search(r'<script src="/static/basemap\.js\?v=[^"]+" defer>', page)
    assert "L.tileLayer(" not in page
    external = set(re.findall(r'https?://[^"\'\s)]+', page))
    assert external == {"https://www.google.com/search?q=clima"}  # the quick-exit link, followed only on a tap


def test_map_page_serves_everything_itself(client, session, app):
    make_services(session, listing(name="Uno"), listing(name="Dos", lat=14.92, confidential=True))
    original = app.config["TILES_URL"]
    app.config["TILES_URL"] = "https://tiles.example.test/{z}/{x}/{y}.png"
    try:
        page = client.get(f"/map?{TAPACHULA}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    finally:
        app.config["TILES_URL"] = original
    # Every asset URL is the app's own; the only other host is the configured tile server.
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assets = [u for u in urls if "/vendor/" in u or "/static/" in u]
    assert any(u.startswith("/vendor/leaflet/leaflet.js?v=") for u in assets)
    assert any(u.startswith("/vendor/leaflet/leaflet.css?v=") for u in assets)
    assert any(u.startswith("/static/map.js?v=") for u in assets)  # zoomed out: server clusters
    external = {u for u in re.findall(r'https?://[^"\'\s)]+', page)}
    assert external <= {"https://tiles.example.test/{z}/{x}/{y}.png", "https://www.google.com/search?q=clima"}
    for forbidden in ("cdn.", "jquery", "bootstrap", "awesome-markers", "unpkg", "jsdelivr"):
        assert forbidden not in page.lower()
    assert "L.map(" in page and "L.marker(" in page and "L.circle(" in page
    assert re.search(r'fitBounds\([^;]*"animate": false', page)
    assert "Map of the 2 nearest services" in page
    assert '"alt": "1. Uno, 0 m"' in page or '"alt": "1. Uno,' in page
    assert "Approximate area" in page


def test_map_lists_the_same_results_in_order(client, session):
    make_services(session, listing(name="Lejos", lat=14.95), listing(name="Cerca", lat=14.906))
    page = client.get(f"/map?{TAPACHULA}").get_data(as_text=True)
    listed = re.findall(r'<li><a href="/services/\d+">([^<]+)</a>', page)
    assert listed == ["Cerca", "Lejos"]


def test_hostile_text_stays_inert_in_the_map_script(client, session):
    make_services(
        session,
        *[listing(name=f"Svc {text}", organization=f"Org {i} {text}", lat=14.906 + i / 1000)
          for i, text in enumerate(HOSTILE)],
    )  # fmt: skip
    page = client.get(f"/map?{TAPACHULA}").get_data(as_text=True)
    (map_script,) = [script for script in scripts(page) if "L.map(" in script]
    # Outside JSON string literals the script has no template literal and no interpolation:
    # every CSO text reaches JavaScript as a double-quoted JSON string, where it is inert.
    outside_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', map_script)
    assert "`" not in outside_strings and "${" not in outside_strings
    assert "alert" not in outside_strings
    assert "</script" not in map_script.lower()
    assert "<img" not in map_script
    # The popup strings decode to escaped HTML.
    popups = [json.loads(s) for s in re.findall(r'bindPopup\(("(?:[^"\\]|\\.)*")', map_script)]
    assert any("&lt;img src=x onerror=alert(3)&gt;" in p for p in popups)
    assert any("${alert(1)}" in p for p in popups)  # inert inside a JSON string
    assert page.count("<script") == 5  # app.js, leaflet.js, the map, basemap.js, map.js (clusters)


def test_map_without_position_is_the_country_wide_map(client, session):
    make_services(session, *[listing(name=f"Svc {i}", lat=14.9 + i / 100) for i in range(30)])
    page = client.get("/map?category=protection", headers={"Accept-Language": "en"}).get_data(as_text=True)
    # The whole region, no service in the page itself: static/map.js asks the server for
    # clusters of what is on screen (at most 2,000 points, whatever the number of services).
    assert "L.map(" in page and "fitBounds" in page and "L.marker(" not in page
    assert re.search(r'fitBounds\([^;]*"animate": false', page)  # map.js reads the fitted zoom at once
    assert "Svc 1" not in page
    assert re.search(r'data-clusters-url="/api/v1/services/clusters"\s+data-category="protection"\s+data-basemap-url="/api/v1/basemap"\s+data-country-wide', page)
    assert re.search(r'<script src="/static/map\.js\?v=\w+" defer>', page)
    # Without JavaScript the page still asks where the visitor is, with the plain forms.
    assert "Tell us where you are" in page and 'action="/search"' in page
    assert "The map needs JavaScript" in page


def test_results_map_names_its_results_for_the_cluster_layer(client, session):
    ids = make_services(session, listing(name="Uno"), listing(name="Dos", lat=14.92))
    page = client.get(f"/map?{TAPACHULA}").get_data(as_text=True)
    listed = re.search(r'data-result-ids="([\d ]*)"', page).group(1).split()
    assert sorted(map(int, listed)) == sorted(ids)
    assert "data-country-wide" not in page


def test_map_bad_values_are_400(client):
    assert client.get("/map?lat=x&lon=1").status_code == 400
