"""Hardened defaults: production refusals, security headers, CSP nonce, body limit, ProxyFix."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
from flask import render_template_string

from mapservice import create_app
from mapservice.security import (
    InsecureConfiguration,
    database_url_problem,
    parse_proxy_fix,
    production_problems,
    secret_key_problem,
    tile_source,
)

GOOD_SECRET = "k3J9-vQ2xZ7_pL0aR5mT8wY1cF4hN6bD"
LOCAL_URL = "postgresql+psycopg:///mapservice"


def production(**overrides):
    config = {"MAPSERVICE_ENV": "production", "SECRET_KEY": GOOD_SECRET,
              "SQLALCHEMY_DATABASE_URI": LOCAL_URL}  # fmt: skip
    config.update(overrides)
    return config


# -- production start-up ------------------------------------------------------------------


@pytest.mark.parametrize(
    "secret, reason",
    [
        (None, "not set"),
        ("", "not set"),
        ("changeme", "placeholder"),
        ("test-secret", "placeholder"),
        ("Secret", "placeholder"),
        ("short-but-random-Xy7", "too short"),
        ("ab" * 20, "not random enough"),
    ],
)
def test_weak_secret_keys_are_named(secret, reason):
    assert reason in secret_key_problem(secret)


def test_a_random_secret_key_is_accepted():
    assert secret_key_problem(GOOD_SECRET) is None


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg:///mapservice",
        "postgresql+psycopg://localhost/mapservice",
        "postgresql+psycopg://app@127.0.0.1:5433/mapservice",
        "postgresql+psycopg://app@[::1]/mapservice",
        "postgresql+psycopg:///mapservice?host=/run/postgresql",
        "postgresql+psycopg://app:pw@db.example.org/mapservice?sslmode=verify-full",
        "postgresql+psycopg://app:pw@10.0.0.5/mapservice?sslmode=require",
        "postgresql+psycopg://app@db.example.org/m?sslmode=verify-full&sslcert=/etc/ssl/app.crt",
    ],
)
def test_local_or_protected_database_urls_are_accepted(url):
    assert database_url_problem(url, environ={"PGPASSFILE": "/nonexistent"}) is None


@pytest.mark.parametrize(
    "url, reason",
    [
        ("postgresql+psycopg://app:pw@db.example.org/mapservice", "without TLS"),
        ("postgresql+psycopg://app:pw@db.example.org/mapservice?sslmode=disable", "sslmode=disable"),
        ("postgresql+psycopg://app:pw@db.example.org/mapservice?sslmode=prefer", "without TLS"),
        ("postgresql+psycopg://app@db.example.org/mapservice?sslmode=require", "without a password"),
        ("postgresql+psycopg:///mapservice?host=db.example.org&sslmode=require", "without a password"),
        ("not a url", "not a valid"),
    ],
)
def test_insecure_database_urls_are_named(url, reason):
    problem = database_url_problem(url, environ={"PGPASSFILE": "/nonexistent"})
    assert problem is not None and reason in problem


def test_password_from_the_environment_counts():
    url = "postgresql+psycopg://app@db.example.org/m?sslmode=require"
    assert database_url_problem(url, environ={"PGPASSWORD": "x", "PGPASSFILE": "/nonexistent"}) is None


def test_production_refuses_each_setting_with_its_own_message():
    problems = production_problems(
        production(SECRET_KEY="changeme", DEBUG=True,
                   SQLALCHEMY_DATABASE_URI="postgresql+psycopg://u:p@db.example.org/m?sslmode=disable"),
        environ={},
    )  # fmt: skip
    assert len(problems) == 3
    assert any("SECRET_KEY" in p for p in problems)
    assert any("debug mode" in p for p in problems)
    assert any("DATABASE_URL" in p for p in problems)


def test_create_app_refuses_production_with_debug():
    with pytest.raises(InsecureConfiguration, match="debug mode is on"):
        create_app(production(DEBUG=True))


def test_create_app_accepts_a_safe_production_config():
    app = create_app(production())
    assert app.config["MAPSERVICE_ENV"] == "production"


def test_production_start_without_secret_key_exits_with_a_clear_message(tmp_path):
    env = {"MAPSERVICE_ENV": "production", "DATABASE_URL": "postgresql:///mapservice", "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path)}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", "from mapservice import create_app; create_app()"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "refusing to start with MAPSERVICE_ENV=production" in result.stderr
    assert "SECRET_KEY is not set" in result.stderr


# -- headers ------------------------------------------------------------------------------


def csp_of(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {d.split(" ", 1)[0]: d.split(" ", 1)[1] for d in (x.strip() for x in policy.split(";"))}


@pytest.mark.parametrize("path", ["/", "/api/v1/places?q=Tapachula", "/api/v1/services/999999", "/nowhere"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)
    csp = csp_of(response)
    assert "'unsafe-inline'" not in csp["script-src"]
    assert re.fullmatch(r"'self' 'nonce-[A-Za-z0-9_-]{24}'", csp["script-src"])
    assert csp["frame-ancestors"] == "'none'"
    assert csp["base-uri"] == "'none'"
    assert csp["object-src"] == "'none'"
    assert csp["img-src"] == "'self' data:"  # public pages: the outline basemap, no tile server
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "Strict-Transport-Security" not in response.headers


def test_staff_pages_may_use_street_tiles_public_pages_never_by_default(app, client, login):
    assert app.config["TILES_URL"] == ""
    login("cso_editor")
    assert csp_of(client.get("/dashboard/services/new"))["img-src"] == "'self' data: https://tile.openstreetmap.org"
    assert csp_of(client.get("/map"))["img-src"] == "'self' data:"
    assert csp_of(client.get("/api/v1/services/nearby?lat=14.906&lon=-92.263"))["img-src"] == "'self' data:"


def test_hsts_only_over_https(client):
    response = client.get("/", base_url="https://example.org")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_the_nonce_changes_per_request_and_matches_the_template_global(app, client):
    first = csp_of(client.get("/"))["script-src"]
    second = csp_of(client.get("/"))["script-src"]
    assert first != second
    with app.test_request_context("/"):
        rendered = render_template_string("<script nonce='{{ csp_nonce() }}'></script>")
        response = app.process_response(app.make_response(rendered))
        nonce = re.search(r"nonce='([^']+)'", rendered).group(1)
        assert f"'nonce-{nonce}'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    "template, source",
    [
        ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "https://tile.openstreetmap.org"),
        ("https://{s}.tile.example.org/{z}/{x}/{y}.png", "https://*.tile.example.org"),
        ("http://127.0.0.1:8080/tiles/{z}/{x}/{y}.png", "http://127.0.0.1:8080"),
        ("/tiles/{z}/{x}/{y}.png", None),
        ("https://tiles.{s}.example.org/{z}.png", None),
    ],
)
def test_tile_host_in_img_src(template, source):
    assert tile_source(template) == source


# -- request size, proxies ----------------------------------------------------------------


def test_a_too_large_body_gets_a_json_413_on_api_paths(client):
    response = client.post("/api/v1/services", data=b"x" * (8 * 1024 * 1024 + 1),
                           content_type="application/json")  # fmt: skip
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_entity_too_large"


def test_a_too_large_body_gets_a_page_elsewhere(client):
    response = client.post("/search", data=b"x" * (8 * 1024 * 1024 + 1))
    assert response.status_code == 413
    assert response.mimetype == "text/html"


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, None),
        ("0", None),
        ("1", {"x_for": 1, "x_proto": 1, "x_host": 1, "x_port": 1, "x_prefix": 0}),
        ("for=2,proto=1", {"x_for": 2, "x_proto": 1, "x_host": 0, "x_port": 0, "x_prefix": 0}),
    ],
)
def test_proxy_fix_setting(value, expected):
    assert parse_proxy_fix(value) == expected


def test_proxy_fix_setting_refuses_nonsense():
    with pytest.raises(ValueError, match="MAPSERVICE_PROXY_FIX"):
        parse_proxy_fix("yes please")


def test_proxy_fix_trusts_the_configured_hops(app):
    proxied = create_app({**app.config, "PROXY_FIX": parse_proxy_fix("1")})
    response = proxied.test_client().get("/nowhere", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" in response.headers
    plain = app.test_client().get("/nowhere", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in plain.headers
