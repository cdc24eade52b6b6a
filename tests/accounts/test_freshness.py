"""Freshness of listings, organizations' status in public views, the importer's history."""
from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from mapservice.services.accounts import set_organization_status
from tests.factories import listing, make_services, make_user

SAMPLE = Path(__file__).parent.parent / "data" / "listings-sample.csv"


def _age(session, sid, days):
    session.execute(text("UPDATE service SET last_verified = :d WHERE id = :id"),
                    {"d": date.today() - timedelta(days=days), "id": sid})  # fmt: skip
    session.commit()


def test_old_listings_warn_then_leave_public_search_and_are_listed_for_their_cso(client, session, login):
    fresh, old, ancient = make_services(session, *(listing(organization="Org F", name=n) for n in ("Fresh", "Old", "Ancient")))
    _age(session, old, 200)
    _age(session, ancient, 400)
    page = client.get(f"/services/{old}?lang=en").get_data(as_text=True)
    assert "Not verified since" in page
    assert "Not verified since" not in client.get(f"/services/{fresh}?lang=en").get_data(as_text=True)
    found = [r["id"] for r in client.get("/api/v1/services/nearby?lat=14.9&lon=-92.26").get_json()["results"]]
    assert fresh in found and old in found and ancient not in found
    user = login("cso_editor", org="Org F")
    dashboard = client.get("/dashboard/").get_data(as_text=True)
    # What needs attention first: the never-confirmed-for-long ones lead, each with a warning.
    assert dashboard.index("Ancient") < dashboard.index("Old") < dashboard.index("Fresh")
    assert dashboard.count("Not confirmed for a long time") == 2
    token = dashboard.split('name="csrf_token" value="')[1].split('"')[0]
    version = session.execute(text("SELECT version FROM service WHERE id = :id"), {"id": ancient}).scalar_one()
    assert client.post(f"/dashboard/services/{ancient}/confirm", data={"csrf_token": token, "version": version}).status_code == 302
    assert session.execute(text("SELECT last_verified FROM service WHERE id = :id"), {"id": ancient}).scalar_one() == date.today()
    assert user.organization.name == "Org F"


def test_suspended_and_pending_organizations_are_not_public(client, session):
    (sid,) = make_services(session, listing(organization="Org S"))
    user = make_user(session, "cso_editor", org="Org S")
    assert client.get(f"/api/v1/services/{sid}").status_code == 200
    for status in ("suspended", "pending", "rejected"):
        set_organization_status(session, user.organization, status)
        session.commit()
        assert client.get(f"/api/v1/services/{sid}").status_code == 404, status
        assert client.get(f"/services/{sid}").status_code == 404
    set_organization_status(session, user.organization, "approved")
    session.commit()
    assert client.get(f"/api/v1/services/{sid}").status_code == 200


def test_the_importer_writes_history(cli, session, tmp_path):
    # History is append-only and committed by the browser test's live server: count from here.
    start = session.execute(text("SELECT coalesce(max(id), 0) FROM service_history")).scalar_one()
    assert cli.invoke(args=["import", str(SAMPLE)]).exit_code == 0
    rows = session.execute(
        text("SELECT action, via, actor, changes FROM service_history WHERE id > :start ORDER BY id"), {"start": start}
    ).all()
    assert len(rows) == 6 and {r.action for r in rows} == {"create"} and rows[0].via == "import"
    assert cli.invoke(args=["import", str(SAMPLE)]).exit_code == 0  # unchanged: no new rows
    assert session.execute(text("SELECT count(*) FROM service_history WHERE id > :start"), {"start": start}).scalar_one() == 6
    changed = SAMPLE.read_text(encoding="utf-8").replace("Mo-Fr 08:00-16:00", "Mo-Fr 09:00-17:00", 1)
    path = tmp_path / "changed-sample.csv"
    path.write_text(changed, encoding="utf-8")
    assert cli.invoke(args=["import", str(path)]).exit_code == 0
    update = session.execute(
        text("SELECT changes FROM service_history WHERE action = 'update' AND id > :start"), {"start": start}
    ).scalar_one()
    assert update["hours"] == {"before": "Mo-Fr 08:00-16:00", "after": "Mo-Fr 09:00-17:00"}


def test_history_is_append_only(session):
    (sid,) = make_services(session, listing(organization="Org H"))
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError, match="append-only"):
        with session.begin_nested():
            session.execute(text("DELETE FROM service_history WHERE service_id = :id"), {"id": sid})
    with pytest.raises(DBAPIError, match="append-only"):
        with session.begin_nested():
            session.execute(text("UPDATE service_history SET actor = 'x' WHERE service_id = :id"), {"id": sid})
