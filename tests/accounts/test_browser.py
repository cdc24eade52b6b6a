"""The CSO flow in Debian's Chromium at phone size (360×740), against a live server.

Sign in, add a service by tapping the map, find it in public search, mark it confidential
and see the public point move away, read its history.  No request leaves 127.0.0.1.
"""
from __future__ import annotations

import json
import math

import pytest
from sqlalchemy import text

from mapservice.extensions import db
from mapservice.services.accounts import create_user, get_or_create_organization

pytestmark = pytest.mark.browser

ORG = "Browser Test Org"
EMAIL = "browser-editor@example.org"
PASSWORD = "river stone lantern"


@pytest.fixture
def editor(app, monkeypatch):
    """A committed editor of a committed organization; everything it made is removed afterwards."""
    monkeypatch.setitem(app.config, "STAFF_TILES_URL", "")  # the outline basemap: no tile server in tests
    with app.app_context():
        org = get_or_create_organization(db.session, ORG, "MX")
        create_user(db.session, EMAIL, PASSWORD, "cso_editor", organization=org)
        db.session.commit()
        org_id = org.id
        db.session.remove()
    yield org_id
    with app.app_context():
        ids = db.session.execute(text("SELECT id FROM service WHERE organization_id = :o"), {"o": org_id}).scalars().all()
        locations = db.session.execute(text("SELECT location_id FROM service_at_location WHERE service_id = ANY(:ids)"),
                                       {"ids": ids}).scalars().all()  # fmt: skip
        for statement in (
            "DELETE FROM feedback WHERE service_id = ANY(:ids)",
            "DELETE FROM service_at_location WHERE service_id = ANY(:ids)",
            "DELETE FROM service WHERE id = ANY(:ids)",
            "DELETE FROM location WHERE id = ANY(:locations)",
            "DELETE FROM app_user WHERE organization_id = :o",
            "DELETE FROM organization WHERE id = :o",
        ):
            db.session.execute(text(statement), {"ids": ids, "locations": locations, "o": org_id})
        db.session.commit()
        db.session.remove()


def _km(a, b):
    """Great-circle distance in km between two (lat, lon) points."""
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def test_cso_flow_on_a_phone(editor, live_server, local_page):
    page, outside = local_page(viewport={"width": 360, "height": 740}, locale="es-MX")
    csp_errors = []
    page.on("console", lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None)

    # Sign in.
    page.goto(f"{live_server}/login")
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(f"{live_server}/dashboard/")

    # Add a service: find the town, then tap the map next to it.
    page.click("text=Agregar un servicio")  # the browser asks for Spanish (es-MX)
    page.fill("#service_name", "Asesoría legal en el navegador")
    page.check("input[name=categories][value='protection.legal']")
    page.fill("#town", "Tapachula")
    page.click("#town-go")
    page.locator("#town-results button").first.click()
    assert page.input_value("#country") == "MX"
    town = (float(page.input_value("#latitude")), float(page.input_value("#longitude")))
    page.wait_for_selector("#edit-map .leaflet-outline-pane path", state="attached")  # the outline basemap, no tiles
    assert "Tapachula" in page.locator("#edit-map .leaflet-outline-labels-pane").inner_text()
    box = page.locator("#edit-map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2 + 40, box["y"] + box["height"] / 2 + 30)  # a tap on the map
    tapped = (float(page.input_value("#latitude")), float(page.input_value("#longitude")))
    assert tapped != town and _km(tapped, town) < 1
    page.fill("#address", "Calle del Navegador 7")
    page.click("form.service-form button[type=submit]")
    page.wait_for_url(f"{live_server}/dashboard/")
    assert "Asesoría legal en el navegador" in page.content()

    # It is in public search, with its exact point.
    page.goto(f"{live_server}/search?lat={tapped[0]}&lon={tapped[1]}&lang=es")
    link = page.locator(".result h2 a", has_text="Asesoría legal en el navegador")
    assert link.count() == 1
    service_id = int(link.first.get_attribute("href").rstrip("/").split("/")[-1])
    public = json.loads(page.context.request.get(f"{live_server}/api/v1/services/{service_id}").text())
    assert public["location"]["approximate"] is False
    assert _km((public["location"]["lat"], public["location"]["lon"]), tapped) < 0.01

    # Mark it confidential: the public point moves 1.5-3 km away and the address disappears.
    page.goto(f"{live_server}/dashboard/services/{service_id}/edit")
    page.check("input[name=confidential]")
    page.click("form.service-form button[type=submit]")
    page.wait_for_url(f"{live_server}/dashboard/")
    public = json.loads(page.context.request.get(f"{live_server}/api/v1/services/{service_id}").text())
    moved = _km((public["location"]["lat"], public["location"]["lon"]), tapped)
    assert public["location"]["approximate"] is True and public["location"]["address"] is None
    assert 1.4 < moved < 3.1
    page.goto(f"{live_server}/services/{service_id}")
    assert "Calle del Navegador" not in page.content()

    # Its history: created, then changed (confidential false → true).
    page.goto(f"{live_server}/dashboard/services/{service_id}/history")
    history = page.locator("ol.history").inner_text()
    assert "Creado" in history and "Modificado" in history and "confidential" in history

    assert outside == [], outside  # nothing but the app was ever requested
    assert csp_errors == [], csp_errors
