"""Public read endpoints: nearby services, one service, gazetteer."""
from __future__ import annotations

from flask import current_app, jsonify, request

from mapservice.api import bp
from mapservice.api.openapi import openapi_doc
from mapservice.api.params import code_param, float_param, int_param, text_param
from mapservice.errors import APIError
from mapservice.extensions import db
from mapservice.http_cache import canonical_coordinate, canonical_url
from mapservice.queries.places import place_json, search_places
from mapservice.queries.services import NearbyFilters, nearest_services_json, public_service, service_json
from mapservice.queries.vocabulary import Vocabulary, vocabulary


def nearby_filters(args, vocab: Vocabulary | None = None) -> NearbyFilters:
    """Parse the filters shared by the API and the search page."""
    vocab = vocab or vocabulary()
    return NearbyFilters(
        category=code_param(args, "category", vocab.category_codes),
        population=code_param(args, "population", vocab.population_codes),
        language=code_param(args, "language"),
        radius_km=float_param(args, "radius_km", 0.001, 20000),
    )


def parse_nearby_args(args, vocab: Vocabulary | None = None) -> tuple[float, float, NearbyFilters, int]:
    """The nearby API's query string as (lat, lon, filters, limit), or :class:`APIError`
    (also used by ``mapservice/fastpath.py``, which must parse exactly as the view does);
    lat and lon are snapped to their canonical 3 decimals."""
    lat = float_param(args, "lat", -90, 90, required=True)
    lon = float_param(args, "lon", -180, 180, required=True)
    lat, lon = float(canonical_coordinate(lat)), float(canonical_coordinate(lon))
    filters = nearby_filters(args, vocab)
    limit = int_param(args, "limit", 1, 100, 20)
    return lat, lon, filters, limit


@bp.get("/v1/services/nearby")
@openapi_doc("Nearest public services, nearest first (geodesic km)", params=("lat", "lon", "category", "population", "language", "radius_km", "limit"), response="NearbyResults")
def services_nearby():
    """Nearest public services to lat/lon, nearest first (geodesic km).

    The search point is lat/lon rounded to 3 decimals (about 110 m), as on the search page:
    the contract answers this URL with the results (no redirect), so a more precise request
    gets the results of the canonical point and its URL in ``Content-Location``.  Plain
    requests with canonical coordinates are answered by ``mapservice/fastpath.py`` before
    they reach Flask; this view answers the rest (and the fast path's first of each kind).
    """
    lat, lon, filters, limit = parse_nearby_args(request.args)
    body = nearest_services_json(
        db.session, lat, lon, filters, limit, hide_after_days=current_app.config["VERIFY_HIDE_DAYS"]
    )
    response = current_app.response_class(body + "\n", mimetype="application/json")
    canonical = canonical_url()
    if canonical is not None:
        response.headers["Content-Location"] = canonical
    return response


@bp.get("/v1/services/<int:service_id>")
@openapi_doc("One public service", response="Service", errors=(404,))
def service_detail(service_id: int):
    """One public service."""
    if service_id > 2**31 - 1:
        raise APIError("not_found", f"no public service with id {service_id}", 404)
    row = public_service(db.session, service_id, hide_after_days=current_app.config["VERIFY_HIDE_DAYS"])
    if row is None:
        raise APIError("not_found", f"no public service with id {service_id}", 404)
    response = jsonify(service_json(row, with_distance=False))
    response.headers["ETag"] = f'"{row["version"]}"'  # what PATCH/DELETE send back in If-Match
    return response


@bp.get("/v1/places")
@openapi_doc("Gazetteer: towns by name", params=("q", "limit_places"), response="Places")
def places():
    """Gazetteer search by town name."""
    query = text_param(request.args, "q", 100)
    if query is None:
        raise APIError("missing_parameter", "q is required")
    limit = int_param(request.args, "limit", 1, 50, 10)
    return jsonify([place_json(p) for p in search_places(db.session, query, limit)])
