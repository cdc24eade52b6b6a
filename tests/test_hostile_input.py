"""Hostile input over every route: always a 4xx (JSON on /api, /ogc, /hsds), never a 5xx
or a stack trace.

The routes are read from the app's URL map, so an endpoint that lands later is covered
without editing this file.  Each query parameter the app knows of is replaced, one at a time,
by each hostile value while the others keep valid values (so the hostile one is the value that
gets parsed); bodies go to every route that accepts one.
"""
from __future__ import annotations

import json
import re
from urllib.parse import quote, urlencode

import pytest
from werkzeug.datastructures import ImmutableMultiDict

from tests.factories import listing, make_services

JSON_PREFIXES = ("/api", "/ogc", "/hsds")

# Valid values for the parameters the app's endpoints read; one at a time is made hostile.
BASELINE = {
    "lat": "14.9056",
    "lon": "-92.2633",
    "q": "Tapachula",
    "category": "protection",
    "population": "children",
    "language": "es",
    "radius_km": "50",
    "limit": "5",
    "country": "BZ",  # small: the coverage queries stay cheap
    "beyond_km": "50",
    "bbox": "-92.5,14.5,-92,15",
    "offset": "0",
    "page": "1",
    "cursor": "",
    "f": "json",
    "lang": "es",
    "format": "json",
    "ids": "1",
    "since": "2020-01-01",
    "id": "1",
}

SQL = [
    "' OR '1'='1",
    "1; DROP TABLE service; --",
    "1) UNION SELECT email, password_hash FROM app_user --",
    "'; SELECT pg_sleep(10); --",
    "$$; COPY (SELECT 1) TO PROGRAM 'id'; $$",
]
# Raw query-string encodings (already percent-encoded where needed).
HOSTILE_RAW = [quote(v) for v in SQL] + [
    "%00",
    "1%00",
    "%FF%FE%FD",  # invalid UTF-8
    "%C3%28",  # invalid UTF-8 continuation
    "%ED%A0%80",  # an encoded UTF-16 surrogate
    "1e309",
    "-1e309",
    "9" * 400,
    "-" + "9" * 5000,
    "1e-400",
    "NaN",
    "Infinity",
    "0x1F",
    "1_000",
    "%EF%BC%91%EF%BC%92",  # fullwidth digits
    quote("\u202e\u200b"),
    quote("<script>alert(1)</script>"),
    quote("${jndi:ldap://x/a}"),
    quote("../../../../etc/passwd"),
    "%0D%0ASet-Cookie:%20pwned=1",
    "a" * 20000,
    quote("[]"),
    quote("{}"),
    "%25%32%35",
    quote(",,,,"),
    quote("\\"),
]

NESTED = b"[" * 100_000 + b"]" * 100_000
BODIES = [
    ("application/json", NESTED),
    ("application/json", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
    ("application/json", b'{"name": "x\\u0000y"}'),
    ("application/json", b'{"name": "\\ud800"}'),
    ("application/json", b'{"name": "\xff\xfe"}'),
    ("application/json", b"\xff\xfe\x00\x00garbage"),
    ("application/json", b'{"latitude": 1e999, "longitude": -1e999}'),
    ("application/json", b'{"latitude": NaN, "longitude": Infinity}'),
    ("application/json", b'{"latitude": ' + b"9" * 5000 + b"}"),
    ("application/json", b'{"service_name": "' + "' OR 1=1 --".encode() + b'"}'),
    ("application/json", b"[1, 2, 3]"),
    ("application/json", b'"just a string"'),
    ("application/json", b"null"),
    ("application/json", b"{"),
    ("application/json", b""),
    ("application/json", b"\x00" * 1024),
    ("application/x-www-form-urlencoded", b"a=%00&b=%FF%FE&" + b"c=1&" * 2000),
    ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n\x00\xff\r\n"),
    ("text/csv", b"organization,external_id\n\x00\xff\xfe"),
]
TEN_MB = b'{"a": "' + b"x" * (10 * 1024 * 1024) + b'"}'

HOSTILE_HEADERS = [
    {"Accept-Language": "';--, " * 500},
    {"Accept-Language": "\xff\xfe"},
    {"Cookie": "lang=%00%FF; session=' OR 1=1"},
    {"Cookie": "session=" + "A" * 4000},
    {"Authorization": "Bearer ' OR '1'='1"},
    {"Authorization": "Bearer " + "\x7f" * 100},
    {"Authorization": "Basic %%%"},
    {"If-Match": '"' + "9" * 400 + '"'},
    {"If-Match": "W/\"\x00\""},
    {"If-None-Match": "*, *, ' OR 1"},
    {"Content-Type": "application/json; charset=klingon"},
    {"X-Forwarded-For": "' OR 1=1, 999.999.1.1"},
    {"Host": "evil.example\r\nX: y"},
]

STACK_TRACE_RE = re.compile(r"Traceback|File \"/|psycopg|sqlalchemy|Werkzeug Debugger", re.IGNORECASE)


def concrete_paths_of(rule, service_id: int) -> list[tuple[str, set[str]]]:
    """One rule's concrete paths: ints with real and extreme ids, strings with hostile text."""
    methods = set(rule.methods or ()) - {"HEAD", "OPTIONS"}
    if not rule.arguments:
        return [(rule.rule, methods)]
    paths = []
    for hostile_int, hostile_text in [
        (str(service_id), "services"),
        ("2147483648", quote("' OR 1=1 --")),
        ("9" * 40, "%00"),
        ("0", "%FF%FE"),
        ("00000000001", "a" * 5000),
    ]:
        path = rule.rule
        for name in rule.arguments:
            converter = type(rule._converters[name]).__name__
            value = hostile_int if converter in ("IntegerConverter", "NumberConverter") else hostile_text
            path = re.sub(r"<(?:[^:<>]+:)?" + re.escape(name) + r">", value, path)
        paths.append((path, methods))
    return paths


def concrete_paths(app, service_id: int) -> list[tuple[str, set[str]]]:
    """Every route with its methods, in every hostile variant of its path variables."""
    return [p for rule in app.url_map.iter_rules() if rule.endpoint != "static"
            for p in concrete_paths_of(rule, service_id)]  # fmt: skip


def assert_client_error(response, path: str, what: str) -> None:
    """4xx (or a 2xx/3xx for harmless input), never 5xx; JSON errors on API paths."""
    status = response.status_code
    body = response.get_data()
    context = f"{what} → {status} on {path}"
    assert status < 500, context + ": " + body[:300].decode("utf-8", "replace")
    text = body.decode("utf-8", "replace")
    assert not STACK_TRACE_RE.search(text), context + ": the response shows internals"
    if status >= 400 and path.startswith(JSON_PREFIXES):
        assert response.mimetype == "application/json", context
        error = response.get_json()["error"]
        assert isinstance(error["code"], str) and error["code"], context
        assert isinstance(error["message"], str) and error["message"], context


@pytest.fixture
def seeded(session):
    """A couple of real services, so valid requests reach the queries."""
    return make_services(session, listing(), listing(confidential=True, categories=["protection.shelter"]))


@pytest.fixture
def routes(app, seeded):
    return concrete_paths(app, seeded[0])


@pytest.fixture
def one_path_per_route(app, seeded):
    """The first concrete path of each route (a real id, a plain word): the query-string and
    header fuzzing need one per route; the hostile path variants have their own test."""
    chosen: dict[str, tuple[str, set[str]]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for path, methods in concrete_paths_of(rule, seeded[0])[:1]:
            chosen.setdefault(rule.rule, (path, methods))
    return list(chosen.values())


def test_the_route_list_covers_the_json_api(routes):
    paths = [p for p, _ in routes]
    assert "/api/v1/services/nearby" in paths
    assert "/api/v1/places" in paths
    assert any(p.startswith("/api/v1/services/") and p[-1].isdigit() for p in paths)


class RecordingArgs(ImmutableMultiDict):
    """Query arguments that remember which names the view asked for."""

    asked: set[str] = set()

    def get(self, key, default=None, type=None):  # noqa: A002 (MultiDict's signature)
        RecordingArgs.asked.add(key)
        return super().get(key, default, type)

    def __getitem__(self, key):
        RecordingArgs.asked.add(key)
        return super().__getitem__(key)

    def getlist(self, key, type=None):  # noqa: A002
        RecordingArgs.asked.add(key)
        return super().getlist(key, type)

    def __contains__(self, key):
        RecordingArgs.asked.add(key)
        return super().__contains__(key)


def parameters_read(app, client, path: str) -> set[str]:
    """The query parameters the view at ``path`` reads (with and without the baseline)."""
    original = app.request_class.parameter_storage_class
    app.request_class.parameter_storage_class = RecordingArgs
    RecordingArgs.asked = set()
    try:
        client.get(path)
        client.get(f"{path}?{urlencode(BASELINE)}")
    finally:
        app.request_class.parameter_storage_class = original
    # ``lang`` is read by every page the same way (mapservice/i18n.py): fuzzed on two pages.
    asked = set(RecordingArgs.asked) - {"lang"}
    return asked | ({"lang"} if path in ("/", "/search") else set())


def test_hostile_query_values_get_client_errors(app, client, one_path_per_route):
    checked = 0
    for path, methods in one_path_per_route:
        if "GET" not in methods:
            continue
        for name in sorted(parameters_read(app, client, path)):
            for raw in HOSTILE_RAW:
                params = {k: v for k, v in BASELINE.items() if k != name}
                query = urlencode(params) + f"&{name}={raw}"
                response = client.get(f"{path}?{query}")
                assert_client_error(response, path, f"{name}={raw[:40]}")
                checked += 1
    assert checked > 500


def test_hostile_path_values_and_no_query(client, routes):
    for path, methods in routes:
        for method in methods:
            response = client.open(path, method=method)
            assert_client_error(response, path, method)


def test_hostile_headers(client, one_path_per_route):
    for path, methods in one_path_per_route:
        if "GET" not in methods:
            continue
        for headers in HOSTILE_HEADERS:
            try:
                response = client.get(f"{path}?{urlencode(BASELINE)}", headers=headers)
            except ValueError:
                # Werkzeug's test client refuses a header with a newline before sending it
                # (a real server never passes one through either).
                assert any("\n" in v or "\r" in v for v in headers.values())
                continue
            assert_client_error(response, path, f"headers {list(headers)}")


def test_hostile_bodies(client, routes):
    for path, methods in routes:
        for method in methods - {"GET", "DELETE"} or {"POST"}:
            for content_type, body in BODIES:
                response = client.open(path, method=method, data=body, content_type=content_type,
                                       headers={"If-Match": '"1"'})  # fmt: skip
                assert_client_error(response, path, f"{method} {content_type} {body[:30]!r}")


def test_ten_megabyte_bodies_are_refused_with_413(client, routes):
    for path, methods in routes:
        for method in methods - {"GET"} or {"POST"}:
            response = client.open(path, method=method, data=TEN_MB, content_type="application/json")
            assert response.status_code == 413, f"{method} {path}"
            assert_client_error(response, path, "10 MB body")


def test_hardened_json_parser_refuses_hostile_documents(app):
    for body in [NESTED, b"NaN", b'{"a": Infinity}', b'["\\u0000"]', b'{"\\ud800": 1}', b'["\\uDBFF"]']:
        with pytest.raises(ValueError):
            app.json.loads(body)
    assert app.json.loads(b'["\\ud83d\\ude00", "a\\u00e9"]') == ["\U0001F600", "aé"]
    assert json.loads(app.json.dumps({"a": 1})) == {"a": 1}


VALID_WRITE = {
    "service_name": "Asesoría legal", "categories": ["protection.legal"], "languages": ["es"], "country": "MX",
    "address": "Calle 5", "latitude": 14.9056, "longitude": -92.2633, "phone": "+52 962 625 1234",
    "hours": "Mo-Fr 08:00-16:00", "free": True, "confidential": False,
}  # fmt: skip
HOSTILE_JSON_VALUES = [
    None, True, 0, -1, 10**400, -(10**300), 1e308, 2**63, "", " ", "\u0000", "x\u0000y", "' OR 1=1 --",
    "a" * 100_000, [], {}, [[[[[]]]]], {"$gt": ""}, ["' OR 1=1"], [None], [1, 2], "1e999", "NaN",
    "\u202e\u200b", "<script>alert(1)</script>", "${7*7}", "{{7*7}}",
]  # fmt: skip


@pytest.fixture
def editor_headers(session):
    from mapservice.services.accounts import create_api_token
    from tests.factories import make_user

    user = make_user(session, "cso_editor", org="Test Org")
    token = create_api_token(session, user).secret
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_hostile_fields_through_the_write_api_with_a_valid_token(client, editor_headers):
    created = client.post("/api/v1/services", json=VALID_WRITE, headers=editor_headers)
    assert created.status_code == 201, created.get_json()
    sid, etag = created.get_json()["id"], created.headers["ETag"]
    checked = 0
    for field in [*VALID_WRITE, "external_id", "description", "email", "website", "whatsapp", "populations",
                  "organization", "id", "version", "status"]:  # fmt: skip
        for value in HOSTILE_JSON_VALUES:
            body = {**VALID_WRITE, field: value}
            response = client.post("/api/v1/services", json=body, headers=editor_headers)
            assert_client_error(response, "/api/v1/services", f"POST {field}={str(value)[:30]!r}")
            response = client.patch(f"/api/v1/services/{sid}", json={field: value},
                                    headers={**editor_headers, "If-Match": etag})  # fmt: skip
            assert_client_error(response, f"/api/v1/services/{sid}", f"PATCH {field}={str(value)[:30]!r}")
            if response.status_code == 200:
                etag = response.headers["ETag"]
            checked += 2
    assert checked > 500


def test_hostile_bodies_with_a_valid_token(client, editor_headers):
    created = client.post("/api/v1/services", json=VALID_WRITE, headers=editor_headers)
    sid = created.get_json()["id"]
    for method, path in [("POST", "/api/v1/services"), ("PATCH", f"/api/v1/services/{sid}"),
                         ("DELETE", f"/api/v1/services/{sid}"), ("POST", f"/api/v1/services/{sid}/restore")]:
        for content_type, body in BODIES:
            response = client.open(path, method=method, data=body, content_type=content_type,
                                   headers={**editor_headers, "If-Match": '"999"'})  # fmt: skip
            assert_client_error(response, path, f"{method} {content_type} {body[:30]!r}")
        response = client.open(path, method=method, data=TEN_MB, content_type="application/json",
                               headers=editor_headers)  # fmt: skip
        assert response.status_code == 413
