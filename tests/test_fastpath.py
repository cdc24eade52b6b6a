"""The nearby API's fast path answers exactly what Flask's view would, and hands the rest over."""
from __future__ import annotations

import contextlib
import gzip
import logging
import re

import brotli
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapservice.extensions import limiter
from mapservice.http_cache import snap
from mapservice.queries.vocabulary import Vocabulary
from tests.factories import listing, make_services

QUERIES = [
    "lat=14.9&lon=-92.26",
    "lat=14.9&lon=-92.26&category=protection",
    "lat=14.9&lon=-92.26&category=protection.legal&limit=3",
    "lat=14.901&lon=-92.26&radius_km=2.5",
    "lat=14.9&lon=-92.26&population=women&language=es",
]
HEADER_SETS = [
    {},
    {"Accept-Encoding": "gzip"},
    {"Accept-Encoding": "gzip, deflate, br"},
    {"Origin": "https://partner.example.org"},
    {"Accept-Language": "en"},
]
# No categories, no populations: for parsing coordinates alone.
VOCAB_STUB = Vocabulary(categories={}, populations={})
# Differ per request by design: the date, and the CSP nonce inside the policy.
VOLATILE = {"Date", "Content-Security-Policy"}


@pytest.fixture
def view_calls(app, monkeypatch):
    """How many requests reached Flask's nearby view."""
    calls = []
    view = app.view_functions["api.services_nearby"]

    def counted(*args, **kwargs):
        calls.append(1)
        return view(*args, **kwargs)

    monkeypatch.setitem(app.view_functions, "api.services_nearby", counted)
    return calls


@pytest.fixture
def services(session):
    return make_services(
        session,
        listing(name="Asesoría legal ${x}", categories=["protection.legal"], populations=["women"], lat=14.901),
        listing(name="Refugio", categories=["protection.shelter"], confidential=True, address="Calle oculta 7", lat=14.91),
        listing(name="Empleo", categories=["livelihoods.employment"], lat=14.95, lon=-92.3),
        *[listing(name=f"Oficina {i}", lat=14.9 + i / 1000, lon=-92.27) for i in range(30)],
    )


def body_of(response) -> bytes:
    data = response.get_data()
    encoding = response.headers.get("Content-Encoding")
    if encoding == "gzip":
        return gzip.decompress(data)
    if encoding == "br":
        return brotli.decompress(data)
    return data


def stable_headers(response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in VOLATILE}


def test_fast_path_answers_like_flask_header_for_header(app, client, services, view_calls):
    for query in QUERIES:
        for headers, base_url in [(h, "http://localhost") for h in HEADER_SETS] + [({}, "https://localhost")]:
            url = f"/api/v1/services/nearby?{query}"
            app.config["NEARBY_FAST_PATH"] = False
            try:
                slow = client.get(url, headers=headers, base_url=base_url)
            finally:
                app.config["NEARBY_FAST_PATH"] = True
            calls_before = len(view_calls)
            fast = client.get(url, headers=headers, base_url=base_url)
            assert len(view_calls) == calls_before, f"Flask answered {url} {headers}"
            assert fast.status_code == slow.status_code == 200
            assert body_of(fast) == body_of(slow)
            assert stable_headers(fast) == stable_headers(slow), (url, headers)
            assert re.sub(r"'nonce-[^']+'", "", fast.headers["Content-Security-Policy"]) == (
                re.sub(r"'nonce-[^']+'", "", slow.headers["Content-Security-Policy"])
            )
            assert fast.headers["Content-Security-Policy"] != slow.headers["Content-Security-Policy"]  # fresh nonce
    everything = client.get("/api/v1/services/nearby?lat=14.9&lon=-92.26&limit=100").get_json()["results"]
    shelter = [r for r in everything if r["name"] == "Refugio"]
    assert shelter and shelter[0]["location"]["approximate"] and shelter[0]["location"]["address"] is None


@pytest.mark.parametrize(
    "url,headers,status",
    [
        ("/api/v1/services/nearby?lat=abc&lon=1", {}, 400),
        ("/api/v1/services/nearby?lat=14.9&lon=-92.26&category=nope", {}, 400),
        ("/api/v1/services/nearby?lat=14.9&lon=-92.26&lang=en", {}, 200),
        ("/api/v1/services/nearby?lat=14.90123&lon=-92.26", {}, 200),  # Flask adds Content-Location
        ("/api/v1/services/nearby?lat=14.90&lon=-92.26", {}, 200),
        ("/api/v1/services/nearby?lat=14.9&lon=-92.26", {"cookie": "lang=en"}, 200),
        ("/api/v1/services/nearby?lat=14.9&lon=-92.26", {"Authorization": "Bearer msk_" + "x" * 30}, 200),
        ("/api/v1/services/nearby?lat=14.9&lon=-92.26", {"Range": "bytes=0-10"}, 200),
    ],
)
def test_everything_else_goes_to_flask(client, services, view_calls, url, headers, status):
    client.get("/api/v1/services/nearby?lat=14.9&lon=-92.26")  # the vocabulary is loaded
    before = len(view_calls)
    if "cookie" in headers:
        client.set_cookie("lang", "en")
        headers = {}
    response = client.get(url, headers=headers)
    assert response.status_code == status
    assert len(view_calls) == before + 1
    if status == 400:
        assert response.get_json()["error"]["code"] == "invalid_parameter"


def test_revalidation_gets_flasks_304(client, services, view_calls):
    etag = client.get("/api/v1/services/nearby?lat=14.9&lon=-92.26").headers["ETag"]
    response = client.get("/api/v1/services/nearby?lat=14.9&lon=-92.26", headers={"If-None-Match": etag})
    assert response.status_code == 304 and view_calls


def test_fast_and_flask_requests_share_the_per_ip_limit(app, client, services, view_calls):
    app.config["PUBLIC_RATE_LIMIT"] = "3 per minute"
    try:
        statuses = [client.get("/api/v1/services/nearby?lat=14.9&lon=-92.26").status_code for _ in range(3)]
        fast_answers = 3 - len(view_calls)
        over = client.get("/api/v1/services/nearby?lat=14.9&lon=-92.26")
        other = client.get("/ogc/conformance", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    finally:
        app.config["PUBLIC_RATE_LIMIT"] = "100000 per minute"
        limiter.reset()
    assert statuses == [200, 200, 200] and fast_answers >= 2
    assert over.status_code == 429 and int(over.headers["Retry-After"]) >= 1
    assert other.status_code == 200


def test_fast_path_logs_no_coordinates(client, services, caplog):
    client.get("/api/v1/services/nearby?lat=14.9&lon=-92.26")  # warm: answered by Flask
    with caplog.at_level(logging.INFO, logger="mapservice.access"):
        assert client.get("/api/v1/services/nearby?lat=14.98765&lon=-92.24321").status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "mapservice.access"]
    assert lines and lines[-1].startswith("GET /api/v1/services/nearby 200 ")
    assert not any("14.98" in line or "92.24" in line for line in caplog.text.splitlines())


def test_switched_off_by_config(app, client, services, view_calls):
    app.config["NEARBY_FAST_PATH"] = False
    try:
        for _ in range(3):
            client.get("/api/v1/services/nearby?lat=14.9&lon=-92.26")
    finally:
        app.config["NEARBY_FAST_PATH"] = True
    assert len(view_calls) == 3


PLAIN_CASES = [
    "lat=14.9&lon=-92.26", "lat=14.9&lon=-92.26&category=protection", "lat=-0.5&lon=0",
    "lat=90&lon=-180", "lat=14.9&lon=-92.26&category=protection.legal",
    # Not plain: the view's parsing (or Flask) decides.
    "lat=14.90&lon=-92.26", "lat=-0&lon=1", "lat=91&lon=0", "lat=14.9&lon=-181", "lat=14.9&lon=-92.26&category=nope",
    "lat=14.9&lon=-92.26&category=Protection", "lon=-92.26&lat=14.9", "lat=14.9&lon=-92.26&limit=3",
    "lat=14.9&lon=-92.26&category=", "lat=14.9&lon=-92.26&lang=en", "lat=1e1&lon=2", "lat=14.9&lon=-92.26&",
]  # fmt: skip


@pytest.mark.parametrize("query", PLAIN_CASES)
def test_plain_query_parses_as_the_view_does(app, query):
    from urllib.parse import parse_qsl

    from werkzeug.datastructures import MultiDict

    from mapservice.api.directory import parse_nearby_args
    from mapservice.errors import APIError
    from mapservice.fastpath import plain_nearby_args
    from mapservice.queries.vocabulary import vocabulary

    with app.app_context():
        vocab = vocabulary()
    plain = plain_nearby_args(query, vocab.categories)
    assert (plain is not None) == (PLAIN_CASES.index(query) < 5)
    if plain is not None:
        assert plain == parse_nearby_args(MultiDict(parse_qsl(query, keep_blank_values=True)), vocab)
    else:
        with contextlib.suppress(APIError):
            parse_nearby_args(MultiDict(parse_qsl(query, keep_blank_values=True)), vocab)


@settings(max_examples=300, deadline=None)
@given(
    lat=st.one_of(st.floats(-95, 95), st.integers(-95, 95)),
    lon=st.one_of(st.floats(-185, 185), st.integers(-185, 185)),
    decimals=st.integers(0, 4),
)
def test_plain_coordinates_parse_as_the_view_does(lat, lon, decimals):
    from werkzeug.datastructures import MultiDict

    from mapservice.api.directory import parse_nearby_args
    from mapservice.errors import APIError
    from mapservice.fastpath import plain_nearby_args

    lat_text, lon_text = (f"{v:.{decimals}f}" if isinstance(v, float) else str(v) for v in (lat, lon))
    plain = plain_nearby_args(f"lat={lat_text}&lon={lon_text}", {})
    try:
        parsed = parse_nearby_args(MultiDict({"lat": lat_text, "lon": lon_text}), VOCAB_STUB)
    except APIError:
        assert plain is None
        return
    canonical = snap(lat_text) == lat_text and snap(lon_text) == lon_text
    assert plain == (parsed if canonical else None)


@pytest.fixture
def redis_storage():
    """limits' Redis storage on a local Redis (database 14), or a skip when there is none."""
    from limits.storage import RedisStorage

    storage = RedisStorage("redis://127.0.0.1:6379/14", socket_connect_timeout=1, socket_timeout=1)
    try:
        storage.storage.ping()
    except Exception:  # noqa: BLE001
        pytest.skip("no Redis on 127.0.0.1:6379")
    return storage


def test_redis_hit_counts_as_the_limiters_own(redis_storage):
    import secrets

    from limits import parse
    from limits.strategies import FixedWindowRateLimiter

    from mapservice.fastpath import redis_incr

    item = parse("3 per minute")
    client = f"test-{secrets.token_hex(8)}"
    key = item.key_for(client, "public-read")
    strategy = FixedWindowRateLimiter(redis_storage)
    try:
        assert redis_incr(redis_storage, key, item.get_expiry()) == 1
        assert strategy.hit(item, client, "public-read")
        assert redis_incr(redis_storage, key, item.get_expiry()) == 3
        assert not strategy.hit(item, client, "public-read")
        assert redis_storage.get(key) == 4
        assert 0 < redis_storage.storage.ttl(redis_storage.prefixed_key(key)) <= 60
    finally:
        redis_storage.clear(key)


def test_redis_hit_error_leaves_the_pool_usable(redis_storage, monkeypatch):
    import secrets
    from types import SimpleNamespace

    import redis

    from mapservice.fastpath import redis_incr

    key = f"test-{secrets.token_hex(8)}"
    script = redis_storage.lua_incr_expire
    monkeypatch.setattr(redis_storage, "lua_incr_expire", SimpleNamespace(sha="0" * 40))
    with pytest.raises(redis.exceptions.ResponseError):
        redis_incr(redis_storage, key, 60)  # NOSCRIPT
    monkeypatch.setattr(redis_storage, "lua_incr_expire", script)
    try:
        assert redis_incr(redis_storage, key, 60) == 1
    finally:
        redis_storage.clear(key)
