"""For partner systems reading the open data: CORS, ETag/Cache-Control with 304, and per-IP
rate limits on the public read API (``/api`` GETs, ``/ogc`` and ``/hsds``).

The limiter is the shared instance of ``extensions.py`` (the accounts' login limits use it
too); its storage is ``RATELIMIT_STORAGE_URI`` (``REDIS_URL``, or memory).  A client over
the limit gets a 429 JSON error with ``Retry-After``.
"""
from __future__ import annotations

import math
import time

from flask import Blueprint, Flask, current_app, g, request
from flask_cors import CORS
from flask_limiter.util import get_remote_address

PUBLIC_PREFIXES = ("/api/v1/", "/api/openapi.json", "/ogc", "/hsds")
CACHE_SECONDS = 60
# Response headers a browser script of another origin may read (CORS).
EXPOSE_HEADERS = ["ETag", "Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"]
EXPOSED_HEADERS = ", ".join(EXPOSE_HEADERS)


def is_public_read() -> bool:
    """A GET/HEAD of the public read API without credentials."""
    return (
        request.method in ("GET", "HEAD")
        and (request.path.startswith(PUBLIC_PREFIXES) or request.path == "/api")
        and "Authorization" not in request.headers
    )


def public_rate_limit() -> str:
    """The per-IP limit of the public read API (config ``PUBLIC_RATE_LIMIT``)."""
    return current_app.config["PUBLIC_RATE_LIMIT"]


def limit_public_reads(blueprint: Blueprint) -> None:
    """Apply the per-IP public read limit to every GET of ``blueprint`` (writes have their own)."""
    from mapservice.extensions import limiter

    # One counter per IP shared by every route of the API and of /ogc (not one per route).
    limiter.shared_limit(
        public_rate_limit,
        scope="public-read",
        key_func=get_remote_address,
        exempt_when=lambda: request.method not in ("GET", "HEAD"),
    )(blueprint)


def add_rate_limit_headers(response):
    """``X-RateLimit-Limit/-Remaining/-Reset`` on writes, sign-in and every 429, and there
    ``Retry-After`` in seconds.  Public reads go without: reading the window back costs two
    round trips to the limit store per request, on the path that carries the load."""
    if response.status_code != 429 and g.get("public_read", False):
        return response
    from mapservice.extensions import limiter

    current = limiter.current_limit
    if current is None:
        return response
    try:
        reset_at = int(current.reset_at)
        remaining = current.remaining
    except Exception:  # noqa: BLE001 (the store went away mid-request: the limit still held)
        return response
    response.headers["X-RateLimit-Limit"] = str(current.limit.amount)
    response.headers["X-RateLimit-Remaining"] = str(remaining)
    response.headers["X-RateLimit-Reset"] = str(reset_at)
    if response.status_code == 429:
        response.headers["Retry-After"] = str(max(1, math.ceil(current.reset_at - time.time())))
    return response


def add_validators(response):
    """ETag (the body's hash unless the view set one) and Cache-Control on public reads, and
    304 Not Modified for a matching ``If-None-Match``; ``Retry-After`` on every 429."""
    if response.status_code == 429 and "Retry-After" not in response.headers:
        response.headers["Retry-After"] = response.headers.get("X-RateLimit-Retry-After", "60")
    if not is_public_read() or response.status_code != 200 or response.direct_passthrough:
        return response
    if "ETag" not in response.headers:
        response.add_etag()
    response.headers.setdefault("Cache-Control", f"public, max-age={CACHE_SECONDS}")
    response.vary.add("Accept")
    # Only If-None-Match: If-Match belongs to the write API (412 there), never to a read.
    etag, _ = response.get_etag()
    if etag and request.if_none_match and request.if_none_match.contains_weak(etag):
        response.status_code = 304
        response.set_data(b"")
        for header in ("Content-Length", "Content-Type"):
            response.headers.pop(header, None)
    return response


def init_app(app: Flask) -> None:
    """CORS on the public read API, validators and caching headers on its responses."""
    from mapservice.extensions import cors

    cors.init_app(
        app,
        resources={r"/api/v1/*": {}, r"/api/openapi.json": {}, r"/api": {}, r"/ogc": {}, r"/ogc/*": {},
                   r"/hsds": {}, r"/hsds/*": {}},
        origins="*",
        send_wildcard=True,
        methods=["GET", "HEAD", "OPTIONS"],
        expose_headers=EXPOSE_HEADERS,
        supports_credentials=False,
        max_age=86400,
    )
    app.after_request(add_validators)
    app.after_request(add_rate_limit_headers)  # runs first: add_validators sees its Retry-After


__all__ = ["CORS", "init_app", "limit_public_reads"]
