"""Open now / closed in the service's own time zone, distances, names, links."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from mapservice.public import presenters


@pytest.fixture
def english(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


def test_open_state_uses_the_location_time_zone(english):
    # 15:30 UTC on a Monday is 09:30 in Guatemala (UTC-6) but 10:30 in Panama (UTC-5)... and
    # 16:30 in Madrid: a 09:00-10:00 service is open only in Guatemala's clock.
    moment = datetime(2026, 11, 30, 15, 30, tzinfo=ZoneInfo("UTC"))
    gt = presenters.open_state("Mo-Fr 09:00-10:00", "America/Guatemala", now=moment)
    pa = presenters.open_state("Mo-Fr 09:00-10:00", "America/Panama", now=moment)
    assert gt.state == "open" and gt.label == "Open now · closes 10:00"
    assert pa.state == "closed"


def test_closed_says_when_it_opens(english):
    friday_night = datetime(2026, 11, 27, 20, 0, tzinfo=ZoneInfo("America/Mexico_City"))
    state = presenters.open_state("Mo-Fr 08:00-16:00", "America/Mexico_City", now=friday_night)
    assert state.state == "closed"
    assert state.label == "Closed · opens Monday 08:00"
    thursday_night = datetime(2026, 11, 26, 20, 0, tzinfo=ZoneInfo("America/Mexico_City"))
    state = presenters.open_state("Mo-Fr 08:00-16:00", "America/Mexico_City", now=thursday_night)
    assert state.label == "Closed · opens tomorrow 08:00"


def test_always_open_and_unknown(english):
    assert presenters.open_state("24/7", "America/Guatemala").label == "Open now"
    assert presenters.open_state("Mo-Fr 08:00-16:00 unknown", "America/Guatemala").state in {"unknown", "closed"}
    assert presenters.open_state(None, "America/Guatemala") is None
    assert presenters.open_state("not hours at all", "America/Guatemala") is None
    # A bad time zone falls back instead of failing the page.
    assert presenters.open_state("24/7", "Nowhere/Nothing").state == "open"


def test_open_state_in_spanish(app):
    with app.test_request_context():
        friday_night = datetime(2026, 11, 27, 20, 0, tzinfo=ZoneInfo("America/Mexico_City"))
        state = presenters.open_state("Mo-Fr 08:00-16:00", "America/Mexico_City", now=friday_night)
        assert state.label == "Cerrado · abre lunes 08:00"


def test_distance_label(english):
    assert presenters.distance_label(0.3456) == "350 m"
    assert presenters.distance_label(1.26) == "1.3 km"
    assert presenters.distance_label(48.4) == "48 km"
    assert presenters.distance_label(1234.4) == "1,234 km"


def test_language_names(app):
    assert presenters.language_name("ht", "en") == "Haitian Creole"
    assert presenters.language_name("es", "es") == "Español"
    assert presenters.language_name("quc", "es") == "K'iche'"
    assert presenters.language_name("mam", "en") == "Mam"
    assert presenters.language_name("zzz", "en") == "Zzz"


def test_links():
    assert presenters.whatsapp_url("+52 962 765 4321") == "https://wa.me/529627654321"
    assert presenters.whatsapp_url(None) is None
    assert presenters.geo_url(14.9, -92.26) == "geo:14.90000,-92.26000"
    assert presenters.osm_directions_url(14.9, -92.26).startswith("https://www.openstreetmap.org/?mlat=14.90000")
    assert presenters.phone_display("+529621234567") == "+52 962 123 4567"
