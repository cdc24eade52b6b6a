"""Open-data endpoints of the JSON API: the services layer as RFC 7946 GeoJSON."""
from __future__ import annotations

from flask import current_app, jsonify, request

from mapservice.api import bp
from mapservice.api.params import bbox_param, code_param
from mapservice.extensions import db
from mapservice.queries.features import service_features
from mapservice.queries.vocabulary import vocabulary
from mapservice.services.exporter import feature_collection, geojson_feature


@bp.get("/v1/services.geojson")
def services_geojson():
    """Every public service in ``bbox`` (and under ``category``) as an RFC 7946 FeatureCollection."""
    bbox = bbox_param(request.args)
    category = code_param(request.args, "category", vocabulary().category_codes)
    page = service_features(
        db.session, bbox=bbox, category=category, limit=None,
        hide_after_days=current_app.config["VERIFY_HIDE_DAYS"],
    )  # fmt: skip
    features = [geojson_feature(row) for row in page.rows]
    response = jsonify(feature_collection(features, current_app.config["DATA_LICENSE"]))
    response.mimetype = "application/geo+json"
    return response
