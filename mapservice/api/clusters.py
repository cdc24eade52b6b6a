"""What public maps draw: clustered services for a whole country (at most ~2,000 points),
and the outline basemap under them."""
from __future__ import annotations

import gzip
import hashlib
from datetime import date

import brotli
from flask import Response, current_app, request

from mapservice.api import bp
from mapservice.api.openapi import openapi_doc
from mapservice.api.params import bbox_param, code_param, int_param
from mapservice.assets import wanted_encoding
from mapservice.errors import APIError
from mapservice.extensions import db
from mapservice.queries.basemap import outline_basemap
from mapservice.queries.clusters import MAX_CLUSTERS, clusters_in_box
from mapservice.queries.vocabulary import vocabulary
from mapservice.shared_cache import cache_key, cached_text

# A box this large (square degrees, about 200 × 200 km) reads many rows, and tells nothing
# about where a visitor is: its clusters are kept for CLUSTERS_CACHE_SECONDS (shared_cache).
CACHED_BOX_DEGREES2 = 4.0


@bp.get("/v1/services/clusters")
@openapi_doc("Public services clustered on a grid for a map (at most 2,000 points)", params=("bbox", "zoom", "category"), response="Clusters")
def services_clusters():
    """``bbox=minlon,minlat,maxlon,maxlat&zoom=0..18[&category=]`` → clusters with counts."""
    bbox = bbox_param(request.args)
    if bbox is None:
        raise APIError("missing_parameter", "bbox is required (min lon, min lat, max lon, max lat)")
    if bbox[0] > bbox[2]:
        raise APIError("invalid_parameter", "bbox must not cross the antimeridian")
    zoom = int_param(request.args, "zoom", 0, 18, 6)
    category = code_param(request.args, "category", vocabulary().category_codes)
    hide_after_days = current_app.config["VERIFY_HIDE_DAYS"]

    def clusters_json() -> str:
        result = clusters_in_box(db.session, bbox, zoom, category=category, hide_after_days=hide_after_days)
        return current_app.json.dumps(
            {
                "clusters": result.clusters,
                "total": result.total,
                "cell_degrees": round(result.cell_degrees, 6),
                "max_clusters": MAX_CLUSTERS,
            }
        )

    seconds = current_app.config["CLUSTERS_CACHE_SECONDS"]
    if seconds > 0 and (bbox[2] - bbox[0]) * (bbox[3] - bbox[1]) >= CACHED_BOX_DEGREES2:
        key = cache_key("clusters", bbox, zoom, category, hide_after_days, date.today())
        body = cached_text(key, seconds, clusters_json)
    else:
        body = clusters_json()
    return Response(body + "\n", mimetype="application/json")


# The boundaries and towns change only when the reference data is loaded again.
BASEMAP_CACHE_SECONDS = 24 * 3600


def outline_basemap_document() -> tuple[dict[str | None, bytes], str]:
    """The basemap's bodies (plain, ``br``, ``gzip``) and ETag, built once per process:
    about 0.7 s of PostGIS work, then 0.15 s to compress it as small as brotli can (25 kB
    instead of 35 kB at the level used for answers made per request)."""
    cached = current_app.extensions.get("mapservice.basemap")
    if cached is None:
        body = outline_basemap(db.session).encode()
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
