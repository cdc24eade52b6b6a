"""The write API: bearer tokens, ETag / If-Match, organization scope, soft delete, history."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from mapservice.services.accounts import create_api_token
from tests.factories import make_user

BODY = {
    "service_name": "Asesoría legal Tapachula",
    "categories": ["protection.legal"],
    "languages": ["es", "en"],
    "country": "MX",
    "address": "Calle 5 Norte 12",
    "latitude": 14.9056,
    "longitude": -92.2633,
    "phone": "+52 962 625 1234",
    "free": True,
    "confidential": False,
}


@pytest.fixture
def tokens(session):
    """Bearer headers for an editor of Org A, an editor of Org B and an admin."""
    out = {}
    for key, role, org in (("a", "cso_editor", "Org A"), ("b", "cso_editor", "Org B"), ("admin", "admin", None)):
        user = make_user(session, role, org=org)
        out[key] = {"Authorization": f"Bearer {create_api_token(session, user).secret}"}
    session.commit()
    return out


def create(client, headers, **overrides):
    response = client.post("/api/v1/services", json={**BODY, **overrides}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response


def test_create_returns_the_service_with_an_etag(client, session, tokens):
    response = create(client, tokens["a"])
    body = response.get_json()
    assert response.headers["ETag"] == '"1"'
    assert body["name"] == BODY["service_name"] and body["organization"]["name"] == "Org A"
    assert body["phone"] == "+529626251234" and body["external_id"].startswith("web-")
    near = client.get("/api/v1/services/nearby?lat=14.9&lon=-92.26").get_json()["results"]
    assert [r["id"] for r in near] == [body["id"]]
    history = session.execute(text("SELECT action, via, changes FROM service_history WHERE service_id = :id"),
                              {"id": body["id"]}).all()  # fmt: skip
    assert len(history) == 1 and history[0].action == "create" and history[0].via == "api"
    assert history[0].changes["service_name"] == {"before": None, "after": BODY["service_name"]}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer msk_wrong"}, {"Authorization": "Basic eDp5"}])
def test_no_valid_token_is_401(client, session, tokens, headers):
    assert client.post("/api/v1/services", json=BODY, headers=headers).status_code == 401
    sid = create(client, tokens["a"]).get_json()["id"]
    assert client.patch(f"/api/v1/services/{sid}", json={"hours": "Mo-Fr 08:00-16:00"},
                        headers={**headers, "If-Match": '"1"'}).status_code == 401  # fmt: skip
    assert client.delete(f"/api/v1/services/{sid}", headers={**headers, "If-Match": '"1"'}).status_code == 401


def test_revoked_token_is_401(client, session):
    user = make_user(session, "cso_editor", org="Org R")
    new = create_api_token(session, user)
    session.commit()
    headers = {"Authorization": f"Bearer {new.secret}"}
    create(client, headers)
    from mapservice.services.accounts import revoke_api_token

    assert revoke_api_token(session, user, new.token.id)
    session.commit()
    assert client.post("/api/v1/services", json=BODY, headers=headers).status_code == 401


@pytest.mark.parametrize("field,value", [("organization", "Org B"), ("status", "active"), ("last_verified", "2020-01-01"),
                                         ("is_demo", True), ("version", 7)])  # fmt: skip
def test_fields_a_cso_must_not_set_are_refused(client, session, tokens, field, value):
    response = client.post("/api/v1/services", json={**BODY, field: value}, headers=tokens["a"])
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "protected_field"
    assert session.execute(text("SELECT count(*) FROM service")).scalar_one() == 0


def test_invalid_listing_is_400_with_every_reason(client, session, tokens):
    response = client.post("/api/v1/services", json={**BODY, "categories": ["nope"], "latitude": 95,
                                                     "free": "maybe"}, headers=tokens["a"])  # fmt: skip
    error = response.get_json()["error"]
    assert response.status_code == 400 and error["code"] == "invalid_listing" and len(error["errors"]) == 3
    outside = client.post("/api/v1/services", json={**BODY, "country": "GT"}, headers=tokens["a"])
    assert outside.status_code == 400 and "not in GT" in outside.get_json()["error"]["message"]
    for bad in ("[1, 2]", "not json"):
        r = client.post("/api/v1/services", data=bad, content_type="application/json", headers=tokens["a"])
        assert r.status_code == 400
    assert client.post("/api/v1/services", data="x=1", headers=tokens["a"]).status_code == 415


def test_patch_needs_the_current_etag_and_no_update_is_lost(client, session, tokens):
    sid = create(client, tokens["a"]).get_json()["id"]
    path = f"/api/v1/services/{sid}"
    assert client.get(path).headers["ETag"] == '"1"'
    missing = client.patch(path, json={"hours": "Mo-Fr 08:00-16:00"}, headers=tokens["a"])
    assert missing.status_code == 428
    first = client.patch(path, json={"hours": "Mo-Fr 08:00-16:00"}, headers={**tokens["a"], "If-Match": '"1"'})
    assert first.status_code == 200 and first.headers["ETag"] == '"2"'
    assert first.get_json()["hours"] == "Mo-Fr 08:00-16:00" and first.get_json()["phone"] == "+529626251234"
    # A second writer who also read version 1 must not overwrite the first change.
    second = client.patch(path, json={"phone": "+52 962 625 9999"}, headers={**tokens["a"], "If-Match": '"1"'})
    assert second.status_code == 412 and second.headers["ETag"] == '"2"'
    assert client.get(path).get_json()["phone"] == "+529626251234"
    garbage = client.patch(path, json={"phone": "+52 962 625 9999"}, headers={**tokens["a"], "If-Match": "xyz"})
    assert garbage.status_code == 412
    weak = client.patch(path, json={"phone": "+52 962 625 9999"}, headers={**tokens["a"], "If-Match": 'W/"2"'})
    assert weak.status_code == 200 and weak.headers["ETag"] == '"3"'
    changes = session.execute(text("SELECT changes FROM service_history WHERE service_id = :id AND version = 3"),
                              {"id": sid}).scalar_one()  # fmt: skip
    assert changes["phone"] == {"before": "+529626251234", "after": "+529626259999"}


def test_another_organization_can_change_nothing(client, session, tokens):
    sid = create(client, tokens["a"]).get_json()["id"]
    path = f"/api/v1/services/{sid}"
    headers = {**tokens["b"], "If-Match": '"1"'}
    assert client.patch(path, json={"hours": "24/7"}, headers=headers).status_code == 404
    assert client.delete(path, headers=headers).status_code == 404
    assert client.post(f"{path}/restore", headers=headers).status_code == 404
    assert client.get(path).headers["ETag"] == '"1"'
    # The organization is the token's, whatever the body says (organization is refused anyway).
    own = create(client, tokens["b"], external_id="x1").get_json()
    assert own["organization"]["name"] == "Org B"


def test_soft_delete_leaves_public_views_and_can_be_restored(client, session, tokens):
    sid = create(client, tokens["a"]).get_json()["id"]
    path = f"/api/v1/services/{sid}"
    assert client.delete(path, headers=tokens["a"]).status_code == 428
    assert client.delete(path, headers={**tokens["a"], "If-Match": '"1"'}).status_code == 204
    assert client.get(path).status_code == 404
    assert client.get(f"/services/{sid}").status_code == 404
    assert client.get("/api/v1/services/nearby?lat=14.9&lon=-92.26").get_json()["results"] == []
    assert session.execute(text("SELECT status FROM service WHERE id = :id"), {"id": sid}).scalar_one() == "deleted"
    assert client.patch(path, json={"hours": "24/7"}, headers={**tokens["a"], "If-Match": '"2"'}).status_code == 409
    restored = client.post(f"{path}/restore", headers=tokens["admin"])
    assert restored.status_code == 200 and restored.headers["ETag"] == '"3"'
    assert client.get(path).status_code == 200
    actions = session.execute(text("SELECT action FROM service_history WHERE service_id = :id ORDER BY id"),
                              {"id": sid}).scalars().all()  # fmt: skip
    assert actions == ["create", "delete", "restore"]


def test_confidential_switch_moves_the_public_point_once(client, session, tokens):
    sid = create(client, tokens["a"]).get_json()["id"]
    path = f"/api/v1/services/{sid}"
    made = client.patch(path, json={"confidential": True}, headers={**tokens["a"], "If-Match": '"1"'})
    loc = made.get_json()["location"]
    assert loc["approximate"] is True and loc["address"] is None
    moved_m = session.execute(text(
        "SELECT ST_Distance(l.geom::geography, l.public_geom::geography) FROM location l "
        "JOIN service_at_location sal ON sal.location_id = l.id WHERE sal.service_id = :id"), {"id": sid}).scalar_one()  # fmt: skip
    assert 1400 < moved_m < 3100
    again = client.patch(path, json={"hours": "24/7"}, headers={**tokens["a"], "If-Match": made.headers["ETag"]})
    assert again.get_json()["location"] == loc  # not re-drawn on an unrelated change
    public = client.patch(path, json={"confidential": False}, headers={**tokens["a"], "If-Match": again.headers["ETag"]})
    assert public.get_json()["location"]["lat"] == pytest.approx(BODY["latitude"])


def test_admin_can_edit_any_service_but_cannot_create_without_an_organization(client, session, tokens):
    sid = create(client, tokens["a"]).get_json()["id"]
    assert client.post("/api/v1/services", json=BODY, headers=tokens["admin"]).status_code == 403
    r = client.patch(f"/api/v1/services/{sid}", json={"hours": "24/7"}, headers={**tokens["admin"], "If-Match": '"1"'})
    assert r.status_code == 200


def test_duplicate_external_id_is_409(client, session, tokens):
    create(client, tokens["a"], external_id="same")
    again = client.post("/api/v1/services", json={**BODY, "external_id": "same"}, headers=tokens["a"])
    assert again.status_code == 409


def test_the_same_codes_in_another_order_are_no_change(client, session, tokens):
    sid = create(client, tokens["a"], categories=["protection.legal", "protection.documentation"]).get_json()["id"]
    same = client.patch(f"/api/v1/services/{sid}", json={"categories": ["protection.documentation", "protection.legal"]},
                        headers={**tokens["a"], "If-Match": '"1"'})  # fmt: skip
    assert same.status_code == 200 and same.headers["ETag"] == '"1"'
    assert session.execute(text("SELECT count(*) FROM service_history WHERE service_id = :id"), {"id": sid}).scalar_one() == 1
