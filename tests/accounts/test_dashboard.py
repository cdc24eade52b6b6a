"""The dashboard: the access matrix, the stale-form conflict, uploads, feedback, onboarding."""
from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import text

from mapservice.services.editing import create_service
from mapservice.services.history import Actor
from tests.factories import csrf_token, make_user

BODY = {
    "service_name": "Refugio Org A", "categories": ["protection.shelter"], "country": "MX",
    "address": "Calle 1", "latitude": 14.9056, "longitude": -92.2633, "free": True, "confidential": False,
}  # fmt: skip


@pytest.fixture
def record(session):
    """A service of Org A (and an editor of Org B to exist alongside)."""
    editor = make_user(session, "cso_editor", org="Org A", email="a@example.org")
    sid, _ = create_service(session, editor.organization_id, BODY, Actor(editor.id, editor.email, "dashboard"))
    session.execute(text("INSERT INTO feedback (service_id, kind, message, state, created_at) "
                         "VALUES (:s, 'wrong_phone', '', 'open', now())"), {"s": sid})  # fmt: skip
    session.commit()
    fid = session.execute(text("SELECT id FROM feedback WHERE service_id = :s"), {"s": sid}).scalar_one()
    return {"id": sid, "feedback": fid}


ROLES = {
    "anonymous": None,
    "editor_a": ("cso_editor", {"org": "Org A"}),
    "editor_b": ("cso_editor", {"org": "Org B"}),
    "viewer": ("ntt_viewer", {"country": "MX"}),
    "admin": ("admin", {}),
}
# (method, path, expected status per role: anonymous, editor_a, editor_b, viewer, admin)
LOGIN = 302
MATRIX = [
    ("GET", "/dashboard/", (LOGIN, 200, 200, 200, 200)),
    ("GET", "/dashboard/services/new", (LOGIN, 200, 200, 403, 403)),
    ("GET", "/dashboard/services/{id}/edit", (LOGIN, 200, 404, 403, 200)),
    ("POST", "/dashboard/services/{id}/edit", (LOGIN, 302, 404, 403, 302)),
    ("POST", "/dashboard/services/{id}/confirm", (LOGIN, 302, 404, 403, 302)),
    ("POST", "/dashboard/services/{id}/delete", (LOGIN, 302, 404, 403, 302)),
    ("POST", "/dashboard/services/{id}/restore", (LOGIN, 302, 404, 403, 302)),
    ("GET", "/dashboard/services/{id}/history", (LOGIN, 200, 404, 403, 200)),
    ("GET", "/dashboard/upload", (LOGIN, 200, 200, 403, 403)),
    ("GET", "/dashboard/upload/template.csv", (LOGIN, 200, 200, 403, 403)),
    ("GET", "/dashboard/tokens", (LOGIN, 200, 200, 403, 200)),
    ("GET", "/dashboard/feedback", (LOGIN, 200, 200, 403, 200)),
    ("POST", "/dashboard/feedback/{feedback}", (LOGIN, 302, 404, 403, 302)),
    ("GET", "/dashboard/admin/organizations", (LOGIN, 403, 403, 403, 200)),
    ("GET", "/dashboard/admin/users", (LOGIN, 403, 403, 403, 200)),
    ("POST", "/dashboard/admin/users", (LOGIN, 403, 403, 403, 400)),  # admin: the form lacks an e-mail
    ("GET", "/dashboard/admin/deleted", (LOGIN, 403, 403, 403, 200)),
    ("GET", "/account/password", (LOGIN, 200, 200, 200, 200)),
]


def _form_for(session, sid):
    row = session.execute(text("SELECT version FROM service WHERE id = :id"), {"id": sid}).scalar_one()
    return {"version": str(row), "service_name": "Refugio Org A (editado)", "categories": "protection.shelter",
            "country": "MX", "latitude": "14.9056", "longitude": "-92.2633", "free": "yes", "state": "resolved"}  # fmt: skip


@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize("method,path,expected", MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX])
def test_access_matrix(client, session, login, record, role, method, path, expected):
    if ROLES[role]:
        kind, kwargs = ROLES[role]
        login(kind, **kwargs)
    want = expected[list(ROLES).index(role)]
    url = path.format(**record)
    if method == "GET":
        response = client.get(url)
    else:
        token = csrf_token(client, "/login")
        data = {**_form_for(session, record["id"]), "csrf_token": token}
        if url.endswith("/restore"):  # restoring needs a deleted service
            session.execute(text("UPDATE service SET status = 'deleted', deleted_at = now() WHERE id = :id"), {"id": record["id"]})
            session.commit()
            data["version"] = str(int(data["version"]))
        response = client.post(url, data=data)
    assert response.status_code == want, (role, method, url, response.status_code, re.findall(r"<li>([^<]*)</li>", response.get_data(as_text=True))[:5])
    if role == "anonymous":
        assert "/login" in response.headers["Location"]
    elif want == 302:
        assert "/login" not in response.headers["Location"]


def test_a_stale_form_is_refused_with_the_other_change_shown(client, session, login, record):
    login("cso_editor", org="Org A")
    path = f"/dashboard/services/{record['id']}/edit"
    token = csrf_token(client, path)
    first_tab = _form_for(session, record["id"]) | {"csrf_token": token, "phone": "+52 962 625 1234"}
    second_tab = dict(first_tab) | {"phone": "", "service_name": "Otro nombre"}
    assert client.post(path, data=first_tab).status_code == 302
    conflict = client.post(path, data=second_tab)
    page = conflict.get_data(as_text=True)
    assert conflict.status_code == 409 and "Otra persona modificó este servicio" in page and "+529626251234" in page
    name = session.execute(text("SELECT name, phone FROM service WHERE id = :id"), {"id": record["id"]}).one()
    assert name.phone == "+529626251234" and name.name == "Refugio Org A (editado)"


def test_create_from_the_dashboard_shows_errors_and_writes_history(client, session, login):
    user = login("cso_editor", org="Org C")
    token = csrf_token(client, "/dashboard/services/new")
    bad = client.post("/dashboard/services/new", data={"csrf_token": token, "service_name": "X", "country": "MX",
                                                       "latitude": "14,9", "longitude": "-92.26"})  # fmt: skip
    assert bad.status_code == 400 and "uses a comma" in bad.get_data(as_text=True)
    good = client.post("/dashboard/services/new", data={
        "csrf_token": token, "service_name": "Nuevo", "categories": ["protection.legal"], "country": "MX",
        "latitude": "14.9056", "longitude": "-92.2633", "confidential": "yes", "hours": "Mo-Fr 08:00-16:00"})  # fmt: skip
    assert good.status_code == 302
    row = session.execute(text("SELECT s.id, s.confidential, h.actor, h.via FROM service s JOIN service_history h "
                               "ON h.service_id = s.id WHERE s.organization_id = :o"), {"o": user.organization_id}).one()  # fmt: skip
    assert row.confidential and row.actor == user.email and row.via == "dashboard"
    item = client.get(f"/api/v1/services/{row.id}").get_json()
    assert item["location"]["approximate"] is True


CSV_HEAD = "organization,external_id,service_name,categories,country,latitude,longitude,phone\n"


def _upload(client, data: bytes, name="list.csv"):
    token = csrf_token(client, "/dashboard/upload")
    return client.post("/dashboard/upload", data={"csrf_token": token, "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")  # fmt: skip


def test_bad_upload_changes_nothing_and_lists_every_bad_row(client, session, login):
    login("cso_editor", org="Org U")
    before = session.execute(text("SELECT count(*) FROM service")).scalar_one()
    data = (CSV_HEAD + "Org U,u1,Uno,protection.legal,MX,14.9,-92.26,\n"
            "Org U,u2,Dos,protection.nope,MX,14.9,-92.26,\n"
            "Other Org,u3,Tres,protection.legal,MX,14.9,-92.26,\n"
            "Org U,u4,Cuatro,protection.legal,MX,-92.26,14.9,\n").encode()  # fmt: skip
    response = _upload(client, data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "line 3: unknown category" in page and "line 4: organization" in page and "line 5:" in page
    assert "line 2" not in page
    assert session.execute(text("SELECT count(*) FROM service")).scalar_one() == before


def test_upload_preview_matches_what_confirm_writes(client, session, login):
    user = login("cso_editor", org="Org U")
    create_service(session, user.organization_id, {**BODY, "external_id": "u1", "service_name": "Uno"},
                   Actor(user.id, user.email, "api"))  # fmt: skip
    create_service(session, user.organization_id, {**BODY, "external_id": "u2", "service_name": "Dos",
                                                   "categories": ["protection.legal"]}, Actor(user.id, user.email, "api"))  # fmt: skip
    session.commit()
    data = (CSV_HEAD + "Org U,u1,Uno,protection.shelter,MX,14.9056,-92.2633,\n"   # unchanged? address differs → update
            "Org U,u2,Dos cambiado,protection.legal,MX,14.9056,-92.2633,\n"
            "Org U,u3,Tres,protection.legal,MX,14.9056,-92.2633,+52 962 625 1234\n").encode()  # fmt: skip
    preview = _upload(client, data)
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200
    key = re.search(r'/dashboard/upload/([\w-]+)"', page).group(1)
    expected = re.search(r'name="expected" value="([^"]+)"', page).group(1)
    assert session.execute(text("SELECT count(*) FROM service WHERE organization_id = :o"),
                           {"o": user.organization_id}).scalar_one() == 2  # nothing written yet  # fmt: skip
    token = csrf_token(client, "/dashboard/upload")
    done = client.post(f"/dashboard/upload/{key}", data={"csrf_token": token, "expected": expected})
    assert done.status_code == 302
    flashed = client.get("/dashboard/").get_data(as_text=True)
    assert expected.replace("would create", "created").replace("would update", "updated") in flashed
    assert session.execute(text("SELECT count(*) FROM service WHERE organization_id = :o"),
                           {"o": user.organization_id}).scalar_one() == 3  # fmt: skip
    vias = session.execute(text("SELECT count(*) FROM service_history h JOIN service s ON s.id = h.service_id "
                                "WHERE s.organization_id = :o AND h.via = 'dashboard'"), {"o": user.organization_id}).scalar_one()  # fmt: skip
    assert vias >= 2
    # The saved upload is gone; another user cannot use someone's key either.
    assert client.post(f"/dashboard/upload/{key}", data={"csrf_token": token, "expected": expected}).status_code == 404


def test_xlsx_upload_and_template(client, session, login):
    from openpyxl import Workbook

    login("cso_editor", org="Org X")
    template = client.get("/dashboard/upload/template.csv")
    assert template.status_code == 200 and template.get_data(as_text=True).startswith("organization,external_id")
    book = Workbook()
    sheet = book.active
    for row in [CSV_HEAD.strip().split(","), ["Org X", "x1", "Equis", "protection.legal", "MX", 14.9056, -92.2633, None]]:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    response = _upload(client, buffer.getvalue(), "list.xlsx")
    assert response.status_code == 200 and "Servicios nuevos:" in response.get_data(as_text=True)  # Spanish: the default
    garbage = _upload(client, b"PK\x03\x04 not really a zip", "list.xlsx")
    assert garbage.status_code == 400 and "not a readable XLSX" in garbage.get_data(as_text=True)


def test_public_feedback_reaches_the_organization(client, session, login, record):
    path = f"/services/{record['id']}/report"
    assert "report" in client.get(f"/services/{record['id']}").get_data(as_text=True)
    token = csrf_token(client, path)
    assert client.post(path, data={"kind": "closed", "message": "Cerrado desde mayo"}).status_code == 400  # no CSRF
    assert client.post(path, data={"csrf_token": token, "kind": "bogus"}).status_code == 400
    assert client.post(path, data={"csrf_token": token, "kind": "closed", "message": "Cerrado desde mayo"}).status_code == 200
    login("cso_editor", org="Org A")
    page = client.get("/dashboard/feedback").get_data(as_text=True)
    assert "Cerrado desde mayo" in page


def test_feedback_is_rate_limited(client, session, record):
    path = f"/services/{record['id']}/report"
    token = csrf_token(client, path)
    statuses = [client.post(path, data={"csrf_token": token, "kind": "other"}).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]


def test_registration_then_approval_then_sign_in(client, session, login):
    token = csrf_token(client, "/register")
    form = {"csrf_token": token, "name": "Red Nueva de Apoyo", "country": "GT", "kind": "rlo",
            "contact_name": "Ana", "email": "ana@rednueva.org", "password": "red nueva de apoyo 2026",
            "confirm": "red nueva de apoyo 2026"}  # fmt: skip
    assert client.post("/register", data=form).status_code == 200
    org_id, status = session.execute(text("SELECT id, status FROM organization WHERE name = 'Red Nueva de Apoyo'")).one()
    assert status == "pending"
    # The same e-mail again: the same answer, nothing created (no enumeration).
    again = client.post("/register", data={**form, "name": "Otra"})
    assert again.status_code == 200 and session.execute(text("SELECT count(*) FROM organization WHERE name = 'Otra'")).scalar_one() == 0
    sign = {"csrf_token": csrf_token(client, "/login"), "email": "ana@rednueva.org", "password": form["password"]}
    assert client.post("/login", data=sign).status_code == 401  # not approved yet
    login("admin")
    token = csrf_token(client, "/dashboard/admin/organizations")
    assert client.post(f"/dashboard/admin/organizations/{org_id}/status", data={"csrf_token": token, "action": "approve"}).status_code == 302
    client.post("/logout", data={"csrf_token": token})
    sign["csrf_token"] = csrf_token(client, "/login")
    assert client.post("/login", data=sign).status_code == 302


def test_dashboard_pages_are_not_cached(client, login):
    login("cso_editor", org="Org N")
    assert client.get("/dashboard/").headers["Cache-Control"] == "no-store"
    assert client.get("/login").headers["Cache-Control"] == "no-store"


def test_admin_adds_a_user_who_sets_their_own_password(client, session, login):
    from tests.factories import make_user as _make

    _make(session, "cso_editor", org="Org Z")
    org_id = session.execute(text("SELECT id FROM organization WHERE name = 'Org Z'")).scalar_one()
    login("admin")
    token = csrf_token(client, "/dashboard/admin/users")
    missing_org = client.post("/dashboard/admin/users", data={"csrf_token": token, "email": "new@z.org", "role": "cso_editor"})
    assert missing_org.status_code == 400
    page = client.post("/dashboard/admin/users", data={"csrf_token": token, "email": "new@z.org", "role": "cso_editor",
                                                       "organization": str(org_id)}).get_data(as_text=True)  # fmt: skip
    link = re.search(r"http://localhost(/reset/[\w-]+)", page).group(1)
    client.post("/logout", data={"csrf_token": token})
    token = csrf_token(client, link)
    assert client.post(link, data={"csrf_token": token, "password": "zeta long phrase", "confirm": "zeta long phrase"}).status_code == 302
    sign = {"csrf_token": csrf_token(client, "/login"), "email": "new@z.org", "password": "zeta long phrase"}
    assert client.post("/login", data=sign).status_code == 302
    assert "Org Z" in client.get("/dashboard/").get_data(as_text=True)
