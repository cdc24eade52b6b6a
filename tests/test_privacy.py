"""Privacy: no searcher position or town in any log, no cookie but ``lang`` for anonymous
visitors, the privacy page, the feedback retention purge."""
from __future__ import annotations

import logging
import runpy
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.factories import listing, make_services

# Distinctive values: any of them in a log line is a leak.
LAT, LON = "14.90561", "-92.26332"
TOWN = "Tapachula"
SECRETS = [LAT, LON, LON.lstrip("-"), "14.9056", "92.2633", TOWN, TOWN.lower(), "Metet", "Huehuetenango"]
SEARCHES = [
    f"/api/v1/services/nearby?lat={LAT}&lon={LON}",
    f"/api/v1/services/nearby?lat={LAT}&lon={LON}&category=protection&radius_km=50&limit=5",
    f"/api/v1/services/nearby?lat={LAT}x&lon={LON}",  # an error answer echoes it; the log must not
    f"/api/v1/places?q={TOWN}",
    "/api/v1/places?q=Meteti",
    f"/search?lat={LAT}&lon={LON}",
    f"/search?q={TOWN}",
    "/search?q=Huehuetenango%2C+Guatemala",
    f"/search?lat={LAT}&lon=999",
    f"/map?lat={LAT}&lon={LON}",
    f"/ogc/collections/services/items?bbox=-92.3,{LAT},-92.2,14.95",
]


@pytest.fixture
def services(session):
    return make_services(session, listing(lat=14.9056, lon=-92.2633),
                         listing(confidential=True, categories=["protection.shelter"]))  # fmt: skip


def test_searches_leave_no_coordinate_or_town_in_the_logs(client, services, caplog):
    caplog.set_level(logging.WARNING)  # everything else, at the level production logs
    for name in ("mapservice", "werkzeug", "gunicorn", "flask_limiter", "flask_babel"):
        caplog.set_level(logging.DEBUG, logger=name)
    statuses = {}
    for path in SEARCHES:
        statuses[path] = client.get(path, headers={"Accept-Language": "es"}).status_code
    assert statuses[SEARCHES[0]] == 200 and statuses[SEARCHES[2]] == 400
    logged = "\n".join(
        [caplog.text] + [str(r.args) for r in caplog.records] + [r.getMessage() for r in caplog.records]
    )
    # The access log is on (so this test can fail) and carries paths only.
    assert "/api/v1/services/nearby" in logged and "/search" in logged
    leaks = [s for s in SECRETS if s in logged]
    assert not leaks, f"searcher data in the logs: {leaks}"


def test_gunicorn_access_log_stays_off():
    config = runpy.run_path(str(Path(__file__).parent.parent / "gunicorn.conf.py"))
    fmt = config.get("access_log_format", "")
    assert config.get("accesslog") is None or not any(x in fmt for x in ("%(r)s", "%(q)s", "%(h)s"))


def public_get_paths(app, service_id: int) -> list[str]:
    """Every GET route an anonymous visitor can reach (not sign-in, dashboard or the report form)."""
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.endpoint == "static":
            continue
        if rule.endpoint.split(".")[0] in ("accounts", "dashboard", "feedback"):
            continue
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<int:{name}>", str(service_id)).replace(f"<{name}>", "services")
        paths.append(path)
    return paths


def test_anonymous_visitors_get_no_cookie_but_lang(app, client, services):
    paths = public_get_paths(app, services[0])
    assert "/" in paths and "/privacy" in paths and f"/services/{services[0]}" in paths
    queries = {"/search": f"?lat={LAT}&lon={LON}", "/map": f"?lat={LAT}&lon={LON}",
               "/api/v1/services/nearby": f"?lat={LAT}&lon={LON}", "/api/v1/places": "?q=Tapachula"}  # fmt: skip
    for path in paths:
        url = path + queries.get(path, "")
        response = client.get(url)
        assert response.status_code < 500, url
        assert response.headers.getlist("Set-Cookie") == [], f"{url} sets {response.headers.getlist('Set-Cookie')}"
    for path in ("/", "/privacy", f"/services/{services[0]}"):
        response = client.get(path + "?lang=en")
        cookies = response.headers.getlist("Set-Cookie")
        assert len(cookies) == 1 and cookies[0].startswith("lang=en;"), cookies
        client.delete_cookie("lang")


def test_privacy_page_in_both_languages_linked_from_every_page(client):
    english = client.get("/privacy?lang=en")
    assert english.status_code == 200
    page = english.get_data(as_text=True)
    assert "<h1>Privacy</h1>" in page
    assert "approximate point, 1.5 to 3 km away" in page
    assert "deleted after 180 days" in page
    spanish = client.get("/privacy", headers={"Accept-Language": "es"})
    assert spanish.status_code == 200 and 'lang="es"' in spanish.get_data(as_text=True)
    home = client.get("/").get_data(as_text=True)
    assert 'href="/privacy"' in home


def test_purge_feedback_deletes_only_reports_handled_long_ago(cli, session, services):
    sid = services[0]
    rows = [("resolved", "200 days"), ("dismissed", "181 days"), ("resolved", "10 days"), ("open", None)]
    for state, handled_ago in rows:
        session.execute(
            text("INSERT INTO feedback (service_id, kind, message, state, created_at, handled_at) "
                 "VALUES (:s, 'other', 'x', :state, now() - interval '400 days', "
                 "now() - CAST(:ago AS interval))"),  # fmt: skip
            {"s": sid, "state": state, "ago": handled_ago},
        )
    result = cli.invoke(args=["purge-feedback"])
    assert result.exit_code == 0, result.output
    assert "deleted 2 problem report(s) handled more than 180 days ago" in result.output
    left = session.execute(text("SELECT state FROM feedback WHERE service_id = :s ORDER BY state"),
                           {"s": sid}).scalars().all()  # fmt: skip
    assert left == ["open", "resolved"]
