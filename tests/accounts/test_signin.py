"""Sign-in, sessions checked on the server, password policy, the user and token commands."""
from __future__ import annotations

import time

import pytest

from mapservice.auth import can_edit_organization, can_view_country, hash_password, password_problem, verify_password
from mapservice.models import ApiToken, User
from mapservice.services.accounts import set_organization_status, set_password
from tests.factories import csrf_token, make_user

PASSWORD = "a long test passphrase"


def sign_in(client, email, password=PASSWORD, next_=None):
    token = csrf_token(client, "/login")
    path = "/login" + (f"?next={next_}" if next_ else "")
    return client.post(path, data={"email": email, "password": password, "csrf_token": token})


def test_sign_in_and_out(client, session):
    user = make_user(session, "cso_editor", email="Editor@Example.org")
    response = sign_in(client, " editor@example.ORG ")
    assert response.status_code == 302 and response.headers["Location"].endswith("/dashboard/")
    page = client.get("/dashboard/")
    assert page.status_code == 200 and user.email in page.get_data(as_text=True)
    cookie = client.get_cookie("session")
    assert cookie.http_only and cookie.same_site == "Lax"
    token = csrf_token(client, "/dashboard/")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/dashboard/").status_code == 302


def test_wrong_password_and_unknown_email_get_the_same_answer(client, session):
    make_user(session, "admin", email="admin@example.org")
    wrong = sign_in(client, "admin@example.org", "not the password at all")
    unknown = sign_in(client, "nobody@example.org", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    strip = lambda r: r.get_data(as_text=True).split('name="csrf_token"')[0]  # noqa: E731
    assert strip(wrong) == strip(unknown)
    assert client.get("/dashboard/").status_code == 302


def test_login_needs_the_csrf_token(client, session):
    make_user(session, "admin", email="admin@example.org")
    response = client.post("/login", data={"email": "admin@example.org", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/dashboard/").status_code == 302


def test_next_parameter_cannot_leave_the_site(client, session):
    make_user(session, "admin", email="admin@example.org")
    response = sign_in(client, "admin@example.org", next_="//evil.example/x")
    assert response.headers["Location"].endswith("/dashboard/")


def test_password_change_ends_other_sessions(app, client, session):
    user = make_user(session, "cso_editor", email="ed@example.org")
    other = app.test_client()
    assert sign_in(client, "ed@example.org").status_code == 302
    assert sign_in(other, "ed@example.org").status_code == 302
    token = csrf_token(client, "/account/password")
    response = client.post("/account/password", data={
        "csrf_token": token, "current": PASSWORD, "password": "another long passphrase",
        "confirm": "another long passphrase"})  # fmt: skip
    assert response.status_code == 302
    assert client.get("/dashboard/").status_code == 200  # this device stays signed in
    assert other.get("/dashboard/").status_code == 302  # the other one is signed out
    assert verify_password(session.get(User, user.id).password_hash, "another long passphrase")


def test_suspension_of_the_organization_ends_its_sessions(client, session):
    user = make_user(session, "cso_editor", org="Org Suspended", email="ed@example.org")
    assert sign_in(client, "ed@example.org").status_code == 302
    assert client.get("/dashboard/").status_code == 200
    set_organization_status(session, user.organization, "suspended")
    session.flush()
    assert client.get("/dashboard/").status_code == 302
    assert sign_in(client, "ed@example.org").status_code == 401  # cannot sign in again either
    set_organization_status(session, user.organization, "approved")
    session.flush()
    assert sign_in(client, "ed@example.org").status_code == 302


def test_password_policy():
    assert password_problem("short") is not None
    assert password_problem("password123") is not None  # common
    assert password_problem("iloveyou") is not None
    assert password_problem("Qwertyuiop") is not None  # common, any case
    assert password_problem("ed@example.org", email="ed@example.org") is not None
    assert password_problem("river stone lantern") is None


def test_hashes_are_argon2id():
    digest = hash_password("river stone lantern")
    assert digest.startswith("$argon2id$") and "m=19456,t=2,p=1" in digest
    assert verify_password(digest, "river stone lantern") and not verify_password(digest, "river stone lanterN")


def test_reset_link_is_one_time(cli, client, session):
    make_user(session, "cso_editor", email="ed@example.org")
    session.flush()
    result = cli.invoke(args=["users", "reset-link", "--email", "ed@example.org", "--base-url", "http://x"])
    assert result.exit_code == 0, result.output
    path = result.output.strip().splitlines()[-1].removeprefix("http://x")
    token = csrf_token(client, path)
    weak = client.post(path, data={"csrf_token": token, "password": "12345678", "confirm": "12345678"})
    assert weak.status_code == 200 and "más comunes" in weak.get_data(as_text=True)  # Spanish: the default
    done = client.post(path, data={"csrf_token": token, "password": "fresh long words", "confirm": "fresh long words"})
    assert done.status_code == 302
    assert client.get(path).status_code == 404  # used
    assert sign_in(client, "ed@example.org", "fresh long words").status_code == 302


def test_users_create_command(cli, session):
    result = cli.invoke(args=["users", "create", "--email", "e@x.org", "--password", PASSWORD,
                              "--role", "cso_editor", "--org", "New Org From CLI"])  # fmt: skip
    assert result.exit_code == 0, result.output
    user = session.query(User).filter_by(email="e@x.org").one()
    assert user.organization.name == "New Org From CLI" and user.organization.status == "approved"
    weak = cli.invoke(args=["users", "create", "--email", "f@x.org", "--password", "password", "--role", "admin"])
    assert weak.exit_code != 0 and "common" in weak.output
    viewer = cli.invoke(args=["users", "create", "--email", "v@x.org", "--password", PASSWORD,
                              "--role", "ntt_viewer", "--country", "gt"])  # fmt: skip
    assert viewer.exit_code == 0 and session.query(User).filter_by(email="v@x.org").one().country_code == "GT"
    again = cli.invoke(args=["users", "create", "--email", "E@x.org", "--password", PASSWORD, "--role", "admin"])
    assert again.exit_code != 0


def test_tokens_create_command_prints_the_token_last_and_stores_a_hash(cli, session):
    make_user(session, "cso_editor", email="ed@example.org")
    session.flush()
    result = cli.invoke(args=["tokens", "create", "--email", "ed@example.org"])
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert secret.startswith("msk_") and len(secret) > 40
    stored = session.query(ApiToken).one()
    assert stored.token_hash != secret and secret not in stored.token_hash
    assert cli.invoke(args=["tokens", "create", "--email", "nobody@example.org"]).exit_code != 0


def test_access_helpers(session):
    admin = make_user(session, "admin")
    viewer = make_user(session, "ntt_viewer", country="HN")
    editor = make_user(session, "cso_editor", org="Helper Org")
    assert can_view_country(admin, "GT") and can_view_country(viewer, "hn")
    assert not can_view_country(viewer, "GT") and not can_view_country(editor, "HN")
    assert can_edit_organization(editor, editor.organization_id) and not can_edit_organization(editor, -1)
    assert can_edit_organization(admin, editor.organization_id) and not can_edit_organization(viewer, editor.organization_id)


@pytest.mark.parametrize("role", ["admin", "cso_editor", "ntt_viewer"])
def test_login_fixture_signs_in_each_role(client, login, role):
    user = login(role)
    page = client.get("/dashboard/")
    assert page.status_code == 200 and user.email in page.get_data(as_text=True)


def test_brute_force_gets_429_then_the_real_user_gets_in(app, client, session, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_LIMIT_PER_ACCOUNT", "3 per 2 seconds")
    make_user(session, "cso_editor", email="ed@example.org")
    statuses = [sign_in(client, "ed@example.org", f"guess number {i}").status_code for i in range(5)]
    assert statuses[:3] == [401, 401, 401] and statuses[3:] == [429, 429]
    assert sign_in(client, "ed@example.org").status_code == 429  # even the right password, for now
    # Another account from the same address is not blocked by this account's limit.
    make_user(session, "admin", email="other@example.org")
    assert sign_in(client, "other@example.org").status_code == 302
    time.sleep(2.1)
    assert sign_in(client, "ed@example.org").status_code == 302


def test_brute_force_per_address(app, client, session, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_LIMIT_PER_IP", "4 per minute")
    statuses = [sign_in(client, f"user{i}@example.org", "some wrong password").status_code for i in range(6)]
    assert statuses[:4] == [401] * 4 and statuses[4:] == [429, 429]
