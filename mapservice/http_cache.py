"""HTTP caching of public search: ETag, short Cache-Control, 304.

Public search responses (the page and the nearby API) carry an ``ETag`` and ``Cache-Control:
public, max-age=60`` (a listing edit shows within a minute), answer ``If-None-Match``
with 304, and vary by language.  Responses that set a cookie or answer a signed-in
person are never marked public.
"""
from __future__ import annotations

import hashlib

from flask import Flask, Response, g, request

CACHED_ENDPOINTS = frozenset({"public.search", "public.map", "api.services_nearby", "api.services_clusters"})
MAX_AGE_SECONDS = 60


def _cacheable(response: Response) -> bool:
    return (
        request.method in ("GET", "HEAD")
        and request.endpoint in CACHED_ENDPOINTS
        and response.status_code == 200
        and not response.is_streamed
    )


def remember_body_etag(response: Response) -> Response:
    """Before compression: the ETag of the body itself (gzip output carries a timestamp,
    so an ETag of compressed bytes would change on every request)."""
    if _cacheable(response):
        g.body_etag = hashlib.sha1(response.get_data()).hexdigest()
    return response


def add_cache_headers(response: Response) -> Response:
    """Last step: ETag (per encoding), short public caching, 304 when unchanged."""
    body_etag = g.get("body_etag")
    if body_etag is None or not _cacheable(response):
        return response
    if "Set-Cookie" in response.headers or not g.get("public_read", False):
        response.cache_control.private = True
        response.cache_control.no_cache = True
        return response
    encoding = response.headers.get("Content-Encoding")
    response.set_etag(f"{body_etag}:{encoding}" if encoding else body_etag)
    response.cache_control.public = True
    response.cache_control.max_age = MAX_AGE_SECONDS
    response.vary.add("Accept-Language")
    response.vary.add("Cookie")
    if "If-Match" in request.headers or "If-Unmodified-Since" in request.headers:
        # Preconditions of writes mean nothing on a public read: answer it in full
        # rather than 412 (only If-None-Match / If-Modified-Since revalidate).
        return response
    return response.make_conditional(request)


def init_app(app: Flask) -> None:
    """Register the canonical redirect and the cache headers."""
    app.after_request(remember_body_etag)  # runs before compression (registered after it)
    # Last of all after-request steps (they run in reverse order): it must see the
    # language cookie and the compressed body (one ETag per encoding).
    app.after_request_funcs.setdefault(None, []).insert(0, add_cache_headers)
