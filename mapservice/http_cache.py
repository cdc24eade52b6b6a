"""HTTP caching of public search: canonical (snapped) coordinates, ETag, short Cache-Control.

A searcher's position is never used more exactly than 3 decimals (about 110 m): a search
page or map asked for with a more precise (or otherwise non-canonical) ``lat``/``lon`` is
answered with a 301 to the same URL with the canonical coordinates, other parameters kept
in their order, so the exact position never reaches the page's logic, a cache or a log,
and everyone searching from the same block shares one cacheable URL.  The site's own links,
forms and scripts write canonical coordinates already (the ``coord`` template filter here,
``canonicalCoordinate`` in ``static/app.js`` and ``static/sw.js``), so the redirect is only
for links from elsewhere.  The nearby API is not redirected: its contract answers
``GET /api/v1/services/nearby`` with the results, so it searches from the rounded point and
names the canonical URL in ``Content-Location`` (see :func:`canonical_url`).

Public search responses (the search page and the JSON) carry an ``ETag`` and ``Cache-Control:
public, max-age=60`` (a listing edit shows within a minute), answer ``If-None-Match``
with 304, and vary by language.  Responses that set a cookie or answer a signed-in
person are never marked public.
"""
from __future__ import annotations

import hashlib
import math
from decimal import Decimal

from flask import Flask, Response, g, redirect, request, url_for

SNAP_DECIMALS = 3
SNAPPED_PAGES = frozenset({"public.search", "public.map_page"})
# Not the map page: its inline script carries the request's CSP nonce (and Folium's random
# element ids), so its body differs on every request and must not be shared by caches.
CACHED_ENDPOINTS = frozenset({"public.search", "api.services_nearby", "api.services_clusters"})
MAX_AGE_SECONDS = 60
COORDINATE_NAMES = ("lat", "lon")


def canonical_coordinate(value: float | Decimal) -> str:
    """The canonical text of a coordinate: rounded to 3 decimals, no trailing zeros
    (``14.905612`` → ``"14.906"``, ``14.9`` → ``"14.9"``, ``-0.0001`` → ``"0"``).

    ``String(Number(x.toFixed(3)))`` gives the same text in JavaScript.
    """
    text = f"{round(float(value), SNAP_DECIMALS) + 0.0:.{SNAP_DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def snap(raw: str) -> str | None:
    """The canonical text of the coordinate written ``raw``, or ``None`` when ``raw`` is not a
    finite number (the view then answers 400 as usual)."""
    try:
        value = float(raw)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return canonical_coordinate(value)


def snapped_args() -> dict[str, list[str]] | None:
    """The request's query arguments with canonical ``lat``/``lon``, or ``None`` when they
    are canonical already (or absent, repeated or not numbers: left to the view)."""
    args = request.args.to_dict(flat=False)
    changed = False
    for name in COORDINATE_NAMES:
        values = args.get(name)
        if not values or len(values) != 1 or "\x00" in values[0]:
            continue
        snapped = snap(values[0].strip())
        if snapped is not None and snapped != values[0]:
            args[name] = [snapped]
            changed = True
    return args if changed else None


def canonical_url() -> str | None:
    """The canonical URL (path and query) of this request, or ``None`` when it is canonical."""
    args = snapped_args()
    if args is None:
        return None
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def canonical_redirect() -> Response | None:
    """A 301 to the snapped URL when a search page's or map's lat/lon are not canonical."""
    if request.method not in ("GET", "HEAD") or request.endpoint not in SNAPPED_PAGES:
        return None
    location = canonical_url()
    if location is None:
        return None
    return redirect(location, code=301)


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
    """Register the canonical redirect, the ``coord`` template filter and the cache headers."""
    app.before_request(canonical_redirect)
    app.add_template_filter(canonical_coordinate, "coord")
    app.after_request(remember_body_etag)  # runs before compression (registered after it)
    # Last of all after-request steps (they run in reverse order): it must see the
    # language cookie and the compressed body (one ETag per encoding).
    app.after_request_funcs.setdefault(None, []).insert(0, add_cache_headers)
