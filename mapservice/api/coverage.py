"""Public coverage aggregates: services per admin-1 area, and towns far from any service."""
from __future__ import annotations

import math

from flask import current_app, jsonify, request

from mapservice.api import bp
from mapservice.api.openapi import openapi_doc
from mapservice.api.params import code_param, float_param
from mapservice.errors import APIError
from mapservice.extensions import db
from mapservice.queries.coverage import CoverageScope, area_counts, country_exists, unserved_places
from mapservice.queries.vocabulary import vocabulary

MAX_BEYOND_KM = 5000
MIN_BEYOND_KM = 0.001


def coverage_scope(args, country: str | None = None) -> CoverageScope:
    """Parse ``country`` (required, a seeded ISO 3166-1 alpha-2 code) and ``category``."""
    raw = country if country is not None else args.get("country", "")
    code = raw.strip().upper()
    if not code:
        raise APIError("missing_parameter", "country is required (BZ CR GT HN MX PA SV)")
    if len(code) != 2 or not code.isalpha() or not country_exists(db.session, code):
        raise APIError("invalid_parameter", f"unknown country {raw[:16]!r} (BZ CR GT HN MX PA SV)")
    category = code_param(args, "category", vocabulary().category_codes)
    return CoverageScope(code, category, current_app.config["VERIFY_HIDE_DAYS"])


def beyond_km_param(args) -> float:
    """``beyond_km``: required, a positive number of kilometres."""
    value = float_param(args, "beyond_km", -math.inf, math.inf, required=True)
    if not MIN_BEYOND_KM <= value <= MAX_BEYOND_KM:  # below 1 m, PostGIS distances underflow
        raise APIError(
            "invalid_parameter",
            f"beyond_km must be a number of kilometres from {MIN_BEYOND_KM} to {MAX_BEYOND_KM}",
        )
    return value


@bp.get("/v1/coverage")
@openapi_doc("Public services per admin-1 area of a country", params=("country", "category"), response="Coverage", tag="coverage")
def coverage():
    """Public services per admin-1 area of a country, and the areas without any."""
    scope = coverage_scope(request.args)
    rows = area_counts(db.session, scope)
    return jsonify(
        {
            "country": scope.country,
            "category": scope.category,
            "areas": [{"code": r["code"], "name": r["name"], "services": r["services"]} for r in rows],
            "gaps": [r["code"] for r in rows if r["services"] == 0],
        }
    )


@bp.get("/v1/coverage/gaps")
@openapi_doc("Towns farther than beyond_km from any matching service", params=("country", "category", "beyond_km"), response="CoverageGaps", tag="coverage")
def coverage_gaps():
    """Towns whose nearest matching public service is farther than ``beyond_km``, largest first."""
    scope = coverage_scope(request.args)
    beyond_km = beyond_km_param(request.args)
    rows = unserved_places(db.session, scope, beyond_km)
    return jsonify({"places": [place_gap_json(r) for r in rows]})


def place_gap_json(row) -> dict:
    """The contract's shape of one unserved town."""
    return {
        "name": row["name"],
        "lat": round(float(row["lat"]), 6),
        "lon": round(float(row["lon"]), 6),
        "population": row["population"],
        "nearest_km": None if row["nearest_km"] is None else round(float(row["nearest_km"]), 3),
    }
