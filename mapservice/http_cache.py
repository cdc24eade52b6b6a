"""HTTP caching of public search: canonical (snapped) URLs, ETag, short Cache-Control.

A search page asked for a point with more than 3 decimals (a phone's GPS gives 6 or more)
is redirected to the same URL with the point rounded to 3 decimals (about 110 m): the
position that reaches the server's logic, caches and any later log is never more exact
than that, and everyone searching from the same block shares one cacheable URL.  Public
search responses (the page and the nearby API) carry an ``ETag`` and ``Cache-Control:
public, max-age=60`` (a listing edit shows within a minute), answer ``If-None-Match``
with 304, and vary by language.  Responses that set a cookie or answer a signed-in
person are never marked public.
"""
from __future__ import annotations

import hashlib
import math

from flask import Flask, Response, g, redirect, request, url_for

SNAP_DECIMALS = 3
SNAPPED_ENDPOINTS = frozenset({"public.search", "public.map"})
CACHED_ENDPOINTS = SNAPPED_ENDPOINTS | {"api.services_nearby", "api.services_clusters"}
MAX_AGE_SECONDS = 60


def snap(raw: str) -> str | None:
    """The canonical text of a coordinate rounded to 3 decimals, or ``None`` when ``raw``
    is not a finite number (the view then answers 400 as usual)."""
    try:
        value = float(raw)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    text = f"{round(value, SNAP_DECIMALS) + 0.0:.{SNAP_DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def canonical_redirect() -> Response | None:
    """A 301 to the snapped URL when a search page's lat/lon are more precise than 3 decimals."""
    if request.method not in ("GET", "HEAD") or request.endpoint not in SNAPPED_ENDPOINTS:
        return None
    args = request.args.to_dict(flat=False)
    changed = False
    for name in ("lat", "lon"):
        values = args.get(name)
        if not values or len(values) != 1 or "\x00" in values[0]:
            continue
        snapped = snap(values[0].strip())
        if snapped is not None and snapped != values[0]:
            args[name] = [snapped]
            changed = True
    if not changed:
        return None
    return redirect(url_for(request.endpoint, **(request.view_args or {}), **args), code=301)


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
    app.before_request(canonical_redirect)
    app.after_request(remember_body_etag)  # runs before compression (registered after it)
    # Last of all after-request steps (they run in reverse order): it must see the
    # language cookie and the compressed body (one ETag per encoding).
    app.after_request_funcs.setdefault(None, []).insert(0, add_cache_headers)
