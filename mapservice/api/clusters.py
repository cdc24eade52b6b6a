"""Clustered public services for a map of a whole country (at most ~2,000 points)."""
from __future__ import annotations

from datetime import date

from flask import Response, current_app, request

from mapservice.api import bp
from mapservice.api.openapi import openapi_doc
from mapservice.api.params import bbox_param, code_param, int_param
from mapservice.errors import APIError
from mapservice.extensions import db
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
