"""The nearby API's fast path: the common request answered below Flask's per-request machinery.

``GET /api/v1/services/nearby`` carries the load when a region searches at once, and on
this stack Flask's per-request work (request and app contexts, the session, a dozen
before/after-request steps, Flask-Limiter's bookkeeping, SQLAlchemy's result layer) costs
about twice what the query itself costs in PostgreSQL.  This WSGI layer answers the plain
case itself, with the same pieces the Flask view uses:

- the same parameter parsing (``api.directory.parse_nearby_args``; the plain
  ``lat=&lon=[&category=]`` of the site's own searches is matched directly, to the same
  result) and SQL statement (``queries.services.nearest_services_sql``, whose response
  body PostgreSQL writes);
- the same per-IP counter as Flask-Limiter's shared ``public-read`` limit (one hit);
- the same read engine as any public read (replica routing, statement timeout, pool;
  in tests, the test's own connection and transaction), the same headers
  (ETag per encoding, short public caching, CORS, CSP and the other security headers),
  the same compression (Flask-Compress's negotiation and levels), and the same
  coordinates-free access-log line.

Everything else goes to Flask untouched: another path or method, credentials or cookies,
conditional or range requests (``If-None-Match``: Flask answers 304), ``?lang=``, a
position more precise than the canonical 3 decimals (Flask adds ``Content-Location``), any
parameter Flask would refuse (its handler writes the 400), a client over its limit (its
handler writes the 429), the first use of a category, and any database error (its
handler retries or answers 503).  ``tests/test_fastpath.py`` holds both paths equal
header for header.  ``NEARBY_FAST_PATH = False`` in the config turns this layer off.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import re
import secrets
import threading
import time
from collections.abc import Container
from typing import Any

from flask import Flask
from flask_compress.flask_compress import _choose_algorithm, _compress_data
from limits import RateLimitItem, parse
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter
from werkzeug.http import http_date
from werkzeug.wrappers import Request

from mapservice.errors import APIError
from mapservice.http_cache import COORDINATE_NAMES, snap

PATH = "/api/v1/services/nearby"
# A request carrying any of these is not the plain case (see the module docstring).
DELEGATED_HEADERS = (
    "HTTP_AUTHORIZATION",
    "HTTP_COOKIE",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_UNMODIFIED_SINCE",
    "HTTP_IF_RANGE",
    "HTTP_RANGE",
)
VARY = "Accept, Accept-Encoding, Accept-Language, Cookie"
# The query string of the site's own plain searches: lat and lon (canonical text is checked
# after the match), at most a category.
PLAIN_QUERY = re.compile(
    r"lat=(-?[0-9]{1,2}(?:\.[0-9]{1,3})?)&lon=(-?[0-9]{1,3}(?:\.[0-9]{1,3})?)(?:&category=([a-z][a-z0-9_.]{0,63}))?"
)

access_log = logging.getLogger("mapservice.access")


@functools.lru_cache(maxsize=512)
def psycopg_statement(sql: str) -> str:
    """A ``text()`` statement (``:name`` parameters) in psycopg's ``%(name)s`` style."""
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql.replace("%", "%%"))


def _canonical(values: list[str]) -> bool:
    """One coordinate, written as its canonical 3-decimal text (what the site's own
    links, forms and scripts send)."""
    return len(values) == 1 and snap(values[0]) == values[0]


def plain_nearby_args(query: str, category_codes: Container[str]) -> tuple[float, float, Any, int] | None:
    """What ``parse_nearby_args`` answers for a plain query string (``PLAIN_QUERY`` with
    canonical coordinates in range and a known category), without building the request's
    argument dict; ``None`` for any other query string."""
    from mapservice.queries.services import NearbyFilters

    match = PLAIN_QUERY.fullmatch(query)
    if match is None:
        return None
    lat_text, lon_text, category = match.groups()
    if snap(lat_text) != lat_text or snap(lon_text) != lon_text:
        return None
    lat, lon = float(lat_text), float(lon_text)
    if abs(lat) > 90 or abs(lon) > 180 or (category is not None and category not in category_codes):
        return None
    return lat, lon, NearbyFilters(category=category), 20


_redis_connections = threading.local()


def redis_incr(storage: RedisStorage, key: str, expiry: int) -> int:
    """``storage.incr(key, expiry)`` (the fixed-window hit: the same Lua script on the same
    key), written as one packed command on this thread's connection from the storage's
    pool: redis-py's command layer costs more than the round trip.  Errors raise; a missing script (``NOSCRIPT``, Redis
    restarted) too, and Flask-Limiter's own call then loads it again."""
    key_bytes = storage.prefixed_key(key).encode()
    expiry_bytes = str(int(expiry)).encode()
    sha = storage.lua_incr_expire.sha.encode()
    command = b"*6\r\n$7\r\nEVALSHA\r\n$%d\r\n%s\r\n$1\r\n1\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$1\r\n1\r\n" % (
        len(sha), sha, len(key_bytes), key_bytes, len(expiry_bytes), expiry_bytes
    )
    pool = storage.storage.connection_pool
    connection = getattr(_redis_connections, "connection", None)
    if connection is None or _redis_connections.pool is not pool:
        # One connection per serving thread, kept: the pool's checkout and checkin cost
        # about as much as the command itself.
        connection = pool.get_connection()
        _redis_connections.connection, _redis_connections.pool = connection, pool
    try:
        connection.send_packed_command([command])
        return int(connection.read_response())
    except BaseException:
        _redis_connections.connection = None
        connection.disconnect()  # a half-read reply must not be read by the next request
        pool.release(connection)
        raise


@functools.lru_cache(maxsize=16)
def _policy_around_nonce(tiles_url: str) -> tuple[str, str]:
    """``security.content_security_policy`` for these tiles, as the text before and after
    its nonce (the policy is the same for every request but for the nonce)."""
    from mapservice import security

    before, after = security.content_security_policy("\0", tiles_url).split("\0")
    return before, after


@functools.lru_cache(maxsize=16)
def _rate_limit_item(spec: str) -> RateLimitItem:
    return parse(spec)


class NearbyFastPath:
    """WSGI middleware answering plain nearby-API requests; the rest goes to ``wsgi_app``."""

    def __init__(self, app: Flask, wsgi_app):
        from mapservice.extensions import db

        self.app = app
        self.wsgi_app = wsgi_app
        self._app_session = db.session  # tests swap in a session bound to their connection
        self._read_engine = None

    def __call__(self, environ: dict[str, Any], start_response):
        if (
            environ.get("PATH_INFO") != PATH
            or environ.get("REQUEST_METHOD") != "GET"
            or not self.app.config.get("NEARBY_FAST_PATH", True)
            or any(name in environ for name in DELEGATED_HEADERS)
        ):
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        answer = self._answer(environ)
        if answer is None:
            return self.wsgi_app(environ, start_response)
        body, headers = answer
        start_response("200 OK", headers)
        access_log.info("GET %s 200 %.1fms", PATH, (time.perf_counter() - started) * 1000)
        return [body]

    def _answer(self, environ: dict[str, Any]) -> tuple[bytes, list[tuple[str, str]]] | None:
        """The body and headers of a 200, or ``None`` to let Flask answer."""
        from mapservice.api.directory import parse_nearby_args
        from mapservice.extensions import limiter
        from mapservice.queries.services import known_category_key, nearest_services_sql

        config = self.app.config
        vocab = self.app.extensions.get("mapservice.vocabulary")
        if vocab is None or not vocab.categories:
            return None  # not loaded yet: Flask's view loads it
        parsed = plain_nearby_args(environ.get("QUERY_STRING", ""), vocab.categories)
        if parsed is None:
            args = Request(environ).args
            if "lang" in args or not all(_canonical(args.getlist(name)) for name in COORDINATE_NAMES):
                return None  # a more precise position: Flask names the canonical URL (Content-Location)
            try:
                parsed = parse_nearby_args(args, vocab)
            except APIError:
                return None
        lat, lon, filters, limit = parsed
        key = None
        if filters.category:
            key = known_category_key(filters.category)
            if key is None:
                return None  # first use of this category in this process
        if not self._within_limit(environ, limiter):
            return None
        sql, params = nearest_services_sql(
            lat, lon, filters, limit, hide_after_days=config["VERIFY_HIDE_DAYS"], as_json=True, category_key=key
        )
        body = self._fetch_body(psycopg_statement(sql), params)
        if body is None:
            return None
        return self._response(environ, body.encode() + b"\n")

    def _within_limit(self, environ: dict[str, Any], limiter) -> bool:
        """One hit on Flask-Limiter's shared ``public-read`` counter for this client's IP."""
        if not limiter.enabled:
            return True
        address = environ.get("REMOTE_ADDR") or "127.0.0.1"
        scope = [address, "public-read"]
        prefix = self.app.config.get("RATELIMIT_KEY_PREFIX")
        item = _rate_limit_item(self.app.config["PUBLIC_RATE_LIMIT"])
        identifiers = [prefix, *scope] if prefix else scope
        try:
            strategy = limiter.limiter
            if type(strategy) is FixedWindowRateLimiter and type(strategy.storage) is RedisStorage:
                return redis_incr(strategy.storage, item.key_for(*identifiers), item.get_expiry()) <= item.amount
            return strategy.hit(item, *identifiers)
        except Exception:  # noqa: BLE001 (the store is down: Flask-Limiter's fallback decides)
            return False

    def _fetch_body(self, sql: str, params: dict[str, Any]) -> str | None:
        """Run the statement through the driver on what Flask's view would use: a pooled
        connection of the read engine (or, when the session is bound to one connection,
        as in the tests, that connection).  SQLAlchemy's session and result layers would
        cost more than the query itself."""
        from sqlalchemy import Engine

        from mapservice.db_routing import READ_BIND
        from mapservice.extensions import db

        if self._read_engine is not None and db.session is self._app_session:
            connection = self._read_engine.raw_connection()
        else:
            with self.app.app_context():
                bind = db.session.get_bind()
                if not isinstance(bind, Engine):
                    try:
                        return self._execute(bind.connection.driver_connection, sql, params)
                    except Exception:  # noqa: BLE001 (Flask's handler answers)
                        return None
                engine = db.engines.get(READ_BIND, bind)  # as RoutingSession routes a public read
                if db.session is self._app_session:
                    self._read_engine = engine  # the engine of a process's app never changes
            connection = engine.raw_connection()
        try:
            return self._execute(connection.driver_connection, sql, params)
        except Exception:  # noqa: BLE001 (Flask's handler retries a lost connection or answers 503)
            connection.invalidate()  # whatever broke, this connection does not go back to the pool
            return None
        finally:
            connection.close()

    @staticmethod
    def _execute(driver_connection, sql: str, params: dict[str, Any]) -> str:
        """The single value of a single-row statement."""
        cursor = driver_connection.cursor()
        try:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]
        finally:
            cursor.close()

    def _response(self, environ: dict[str, Any], body: bytes) -> tuple[bytes, list[tuple[str, str]]]:
        """The headers Flask's after-request steps write for this endpoint, in one pass."""
        from mapservice import consumers, security
        from mapservice.extensions import compress

        config = self.app.config
        etag = hashlib.sha1(body).hexdigest()
        headers = [("Content-Type", "application/json")]
        algorithm = _choose_algorithm(compress.enabled_algorithms, environ.get("HTTP_ACCEPT_ENCODING", ""))
        if (
            algorithm is not None
            and "application/json" in compress.compress_mimetypes_set
            and len(body) >= config["COMPRESS_MIN_SIZE"]
        ):
            body = _compress_data(self.app, body, algorithm)
            headers.append(("Content-Encoding", algorithm))
            etag = f"{etag}:{algorithm}"
        headers += [
            ("Content-Length", str(len(body))),
            ("ETag", f'"{etag}"'),
            ("Cache-Control", f"public, max-age={consumers.CACHE_SECONDS}"),
            ("Vary", VARY),
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Expose-Headers", consumers.EXPOSED_HEADERS),
            ("Content-Security-Policy", secrets.token_urlsafe(18).join(_policy_around_nonce(config.get("TILES_URL", "")))),
            *security.SECURITY_HEADERS.items(),
            ("Date", http_date()),
        ]
        if environ.get("wsgi.url_scheme") == "https":
            headers.append(("Strict-Transport-Security", security.HSTS))
        return body, headers


def install_fast_path(app: Flask) -> None:
    """Put :class:`NearbyFastPath` in front of Flask, behind ProxyFix when there is one
    (the client's address and scheme must be the proxied ones)."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    if isinstance(app.wsgi_app, ProxyFix):
        app.wsgi_app.app = NearbyFastPath(app, app.wsgi_app.app)
    else:
        app.wsgi_app = NearbyFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
