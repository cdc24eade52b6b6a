"""The outline basemap public maps draw instead of a third-party tile server's images."""
from __future__ import annotations

import gzip
import hashlib

import brotli
from flask import Response, current_app

from mapservice.api import bp
from mapservice.api.openapi import openapi_doc
from mapservice.assets import wanted_encoding
from mapservice.extensions import db
from mapservice.queries.basemap import outline_basemap
from mapservice.shared_cache import cache_key, cached_text

# The boundaries and towns change only when the reference data is loaded again.
BASEMAP_CACHE_SECONDS = 24 * 3600


def outline_basemap_document() -> tuple[dict[str | None, bytes], str]:
    """The basemap's bodies (plain, ``br``, ``gzip``) and ETag, made once per process.

    The GeoJSON (about 0.7 s of PostGIS work) is made once for all workers and app servers
    when the shared cache is Redis (a recycled worker finds it there); each process then
    compresses it as small as brotli can (0.15 s: 25 kB instead of 35 kB at the level used
    for answers made per request).
    """
    cached = current_app.extensions.get("mapservice.basemap")
    if cached is None:
        text = cached_text(cache_key("basemap"), BASEMAP_CACHE_SECONDS, lambda: outline_basemap(db.session))
        body = text.encode()
        bodies = {None: body, "br": brotli.compress(body, quality=11), "gzip": gzip.compress(body, 9, mtime=0)}
        cached = (bodies, hashlib.sha1(body).hexdigest())
        current_app.extensions["mapservice.basemap"] = cached
    return cached


@bp.get("/v1/basemap")
@openapi_doc("The outline basemap public maps draw instead of third-party tiles", response="Basemap", media="application/geo+json", errors=())
def basemap():
    """The countries, their first-level boundaries and largest towns as GeoJSON (one day's caching)."""
    bodies, etag = outline_basemap_document()
    encoding = wanted_encoding()
    response = Response(bodies[encoding], mimetype="application/geo+json")
    response.vary.add("Accept-Encoding")
    if encoding:
        response.headers["Content-Encoding"] = encoding
    response.set_etag(f"{etag}-{encoding}" if encoding else etag)
    response.headers["Cache-Control"] = f"public, max-age={BASEMAP_CACHE_SECONDS}"
    return response  # consumers.add_validators answers 304 to a matching If-None-Match
