"""The coverage dashboard in Debian's Chromium at desktop and phone size, against a live server.

The map (an iframe) draws the country's areas from the app's own Leaflet, the page does not
scroll sideways on a 360 px phone (wide tables scroll inside their box), and no request
leaves 127.0.0.1.
"""
from __future__ import annotations

import pytest
from sqlalchemy import text

from mapservice.extensions import db
from mapservice.services.accounts import create_user

pytestmark = pytest.mark.browser

EMAIL = "browser-ntt@example.org"
PASSWORD = "harbour willow compass"


@pytest.fixture
def viewer(app, monkeypatch):
    """A committed NTT viewer of Honduras, removed afterwards."""
    monkeypatch.setitem(app.config, "STAFF_TILES_URL", "/static/no-tiles/{z}/{x}/{y}.png")  # no tile server in tests
    with app.app_context():
        create_user(db.session, EMAIL, PASSWORD, "ntt_viewer", country="HN")
        db.session.commit()
        db.session.remove()
    yield
    with app.app_context():
        db.session.execute(text("DELETE FROM app_user WHERE email = :e"), {"e": EMAIL})
        db.session.commit()
        db.session.remove()


@pytest.mark.parametrize("width,height", [(1366, 900), (360, 740)])
def test_dashboard_in_a_browser(viewer, live_server, local_page, width, height, tmp_path):
    page, outside = local_page(viewport={"width": width, "height": height})
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.goto(f"{live_server}/coverage/HN?category=protection.legal&lang=es")
    assert page.locator("h1").inner_text().strip()
    map_frame = page.frame_locator(".cov-map iframe")
    map_frame.locator(".leaflet-container").wait_for()
    assert map_frame.locator(".leaflet-overlay-pane canvas").count() >= 1  # areas and towns, drawn
    assert map_frame.locator(".leaflet-control-layers-overlays label").count() >= 2
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(tmp_path / f"coverage-{width}.png"), full_page=True)
    assert outside == []
