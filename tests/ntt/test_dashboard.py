"""Coverage dashboard: who may see it, what it shows, and that its map and files are safe."""
from __future__ import annotations

import csv
import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from mapservice.http_cache import snap
from mapservice.maps import js_text
from mapservice.services.coverage_export import safe_cell
from tests.factories import listing, make_services

HOSTILE = "${alert(1)}\\`</script><img src=x onerror=alert(1)>"


@pytest.fixture
def honduras(session):
    """Two legal-aid services in Honduras (Tegucigalpa, San Pedro Sula) and a shelter."""
    return make_services(
        session,
        listing(country="HN", lat=14.0818, lon=-87.2068, categories=["protection.legal"], organization="Org HN"),
        listing(country="HN", lat=15.5042, lon=-88.0250, categories=["protection.legal"], organization="Org HN"),
        listing(country="HN", lat=15.5100, lon=-88.0300, categories=["protection.shelter"], organization="Org HN"),
    )


DASHBOARD_URLS = [
    "/coverage/{c}", "/coverage/{c}/map", "/coverage/{c}/map?download=1",
    "/coverage/{c}/areas.csv", "/coverage/{c}/areas.xlsx", "/coverage/{c}/unserved.csv", "/coverage/{c}/unserved.xlsx",
]  # fmt: skip


@pytest.mark.parametrize("url", DASHBOARD_URLS)
def test_anonymous_visitors_are_sent_to_sign_in(client, url):
    response = client.get(url.format(c="HN"))
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_anonymous_visitors_get_the_public_api(client, honduras):
    assert client.get("/api/v1/coverage?country=HN").status_code == 200
    assert client.get("/api/v1/coverage/gaps?country=HN&beyond_km=50").status_code == 200


@pytest.mark.parametrize("url", DASHBOARD_URLS)
def test_a_honduras_viewer_cannot_open_guatemala(client, login, url):
    login("ntt_viewer", country="HN")
    assert client.get(url.format(c="GT")).status_code == 403
    assert client.get(url.format(c="HN")).status_code == 200


def test_editors_cannot_open_dashboards_and_viewers_go_to_their_country(client, login):
    login("cso_editor")
    assert client.get("/coverage/HN").status_code == 403
    assert client.get("/coverage/").status_code == 403


def test_region_view_sends_a_viewer_home_and_shows_admins_seven_countries(client, login):
    login("ntt_viewer", country="HN")
    response = client.get("/coverage/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/coverage/HN")


def test_region_view_for_admins(client, login, honduras):
    login("admin")
    page = client.get("/coverage/?lang=en").get_data(as_text=True)
    assert page.count('class="country-card"') == 7
    assert page.count('<svg class="bar-chart"') == 7
    for name in ("Belize", "Costa Rica", "El Salvador", "Guatemala", "Honduras", "Mexico", "Panama"):
        assert name in page


def test_dashboard_shows_gaps_table_towns_and_freshness(client, login, honduras, session):
    session.execute(text("UPDATE service SET last_verified = current_date - 200 WHERE id = :id"), {"id": honduras[0]})
    login("admin")
    page = client.get("/coverage/hn?category=protection.legal&beyond_km=50&lang=en").get_data(as_text=True)
    assert "Coverage in Honduras" in page
    assert "16 of 18 areas have no public service." in page
    assert "Atlántida" in page and 'class="num zero"' in page
    assert "La Ceiba" in page  # more than 50 km from Tegucigalpa and San Pedro Sula
    assert re.search(r'href="/search\?lat=15\.7\d+&amp;lon=-86\.7\d+&amp;category=protection.legal"', page)
    # Canonical search coordinates (3 decimals): the link is never redirected.
    towns = re.findall(r'href="/search\?lat=([-\d.]+)&amp;lon=([-\d.]+)', page)
    assert towns and all(snap(lat) == lat and snap(lon) == lon for lat, lon in towns)
    assert "Org HN" in page  # freshness: the organization and area with a stale listing
    assert "1 of 3 listings are not verified recently." in page
    assert "estimate" in page and '<svg class="bar-chart"' in page
    assert 'src="/coverage/HN/map?category=protection.legal' in page


def test_dashboard_is_spanish_by_default(client, login, honduras):
    login("admin")
    page = client.get("/coverage/HN").get_data(as_text=True)
    assert 'lang="es"' in page


def test_table_sorts_by_a_category_column(client, login, honduras):
    login("admin")
    page = client.get("/coverage/HN?category=protection&sort=c:protection.legal&dir=desc").get_data(as_text=True)
    body = page.split("<tbody>", 1)[1]
    first_row = body.split("</tr>", 1)[0]
    assert "HN-CR" in first_row or "HN-FM" in first_row
    ascending = client.get("/coverage/HN?category=protection&sort=c:protection.legal&dir=asc").get_data(as_text=True)
    assert 'class="num zero"' in ascending.split("<tbody>", 1)[1].split("</tr>", 1)[0]


@pytest.mark.parametrize(
    "query", ["category=nope", "beyond_km=abc", "beyond_km=-1", "measure=evil", "category=%00"]
)
def test_bad_dashboard_input_is_a_400(client, login, query):
    login("admin")
    assert client.get(f"/coverage/HN?{query}").status_code == 400


def test_unknown_country_is_a_404_for_admins(client, login):
    login("admin")
    assert client.get("/coverage/XX").status_code == 404


def _hostile_area(session):
    session.execute(text("UPDATE admin_area SET name = :n WHERE code = 'HN-AT'"), {"n": HOSTILE})


def test_map_loads_only_local_assets_and_escapes_names(client, login, honduras, session):
    _hostile_area(session)
    login("admin")
    response = client.get("/coverage/HN/map?category=protection.legal")
    document = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    sources = re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', document)
    assert sources and all(s.startswith("/vendor/") for s in sources), sources
    for cdn in ("cdn.jsdelivr", "code.jquery", "bootstrapcdn", "cdnjs", "fontawesome"):
        assert cdn not in document
    assert "</script><img" not in document and "${alert" not in document and "\\`" not in document
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    assert all(f'nonce="{nonce}"' in tag for tag in re.findall(r"<script[^>]*>", document))
    assert "L.markerClusterGroup" in document


def test_dashboard_page_escapes_area_names(client, login, session):
    _hostile_area(session)
    login("admin")
    page = client.get("/coverage/HN").get_data(as_text=True)
    assert "<img src=x" not in page and "&lt;img src=x" in page


def test_standalone_map_inlines_its_assets(client, login, honduras):
    login("admin")
    response = client.get("/coverage/HN/map?download=1")
    document = response.get_data(as_text=True)
    assert response.headers["Content-Disposition"].startswith('attachment; filename="coverage-HN-')
    assert "/vendor/" not in document
    assert "L.Map" in document or "L.map" in document  # Leaflet itself is in the file
    assert "markerClusterGroup" in document


def test_vendor_assets_are_served_and_confined(client):
    assert client.get("/vendor/leaflet/leaflet.js").status_code == 200
    assert client.get("/vendor/leaflet-markercluster/leaflet.markercluster.js").status_code == 200
    assert client.get("/vendor/leaflet/../../../../etc/passwd").status_code == 404
    assert client.get("/vendor/nope/x.js").status_code == 404


def _csv_rows(response):
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def test_area_table_csv_has_hxl_and_neutralizes_formulas(client, login, honduras, session):
    session.execute(text("UPDATE admin_area SET name = '=HYPERLINK(\"http://x\")' WHERE code = 'HN-AT'"))
    login("admin")
    rows = _csv_rows(client.get("/coverage/HN/areas.csv?category=protection.legal"))
    assert rows[1][:5] == ["#adm1+name", "#adm1+code", "#sector+name", "#sector", "#service+count"]
    by_code = {(r[1], r[3]): r for r in rows[2:]}
    assert by_code[("HN-AT", "protection")][0].startswith("'=HYPERLINK")
    assert by_code[("HN-FM", "protection.legal")][4] == "1"  # a number, not text
    assert by_code[("HN-AT", "protection.legal")][4] == "0"


def test_unserved_csv_and_xlsx(client, login, honduras):
    login("admin")
    rows = _csv_rows(client.get("/coverage/HN/unserved.csv?category=protection.legal&beyond_km=50"))
    assert rows[1][:5] == ["#loc+name", "#adm1+code", "#population", "#geo+lat", "#geo+lon"]
    ceiba = next(r for r in rows[2:] if r[0] == "La Ceiba")
    assert ceiba[4].startswith("-86.")  # a negative number stays a number
    assert float(ceiba[5]) > 50
    book = load_workbook(io.BytesIO(client.get("/coverage/HN/unserved.xlsx?category=protection.legal").data))
    sheet = book.active
    assert sheet.cell(2, 1).value == "#loc+name"
    values = [c.value for c in sheet[3]]
    assert isinstance(values[2], int) and isinstance(values[4], float) and values[4] < 0


def test_xlsx_keeps_formula_like_text_as_text(client, login, session):
    session.execute(text("UPDATE admin_area SET name = '=1+1' WHERE code = 'HN-AT'"))
    login("admin")
    book = load_workbook(io.BytesIO(client.get("/coverage/HN/areas.xlsx").data))
    cells = [row[0] for row in book.active.iter_rows(min_row=3) if row[1].value == "HN-AT"]
    assert cells and all(c.value == "=1+1" and c.data_type == "s" for c in cells)


@pytest.mark.parametrize("value", ["=1+1", "+1", "-x", "@SUM(A1)", "\tx", "\rx"])
def test_safe_cell_neutralizes_formula_text(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", [-87.2, 0, 12, 3.5])
def test_safe_cell_keeps_numbers(value):
    assert safe_cell(value) == value


def test_js_text_leaves_nothing_active():
    out = js_text(HOSTILE)
    for dangerous in ("${", "`", "\\", "<", ">"):
        assert dangerous not in out
