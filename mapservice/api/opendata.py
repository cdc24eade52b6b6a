"""Open-data endpoints of the JSON API: the services layer as RFC 7946 GeoJSON, the OpenAPI
document and its viewer."""
from __future__ import annotations

from flask import current_app, jsonify, render_template, request, send_from_directory, url_for
from swagger_ui_bundle import swagger_ui_path

from mapservice.api import bp
from mapservice.api.openapi import openapi_doc, openapi_document
from mapservice.api.params import bbox_param, code_param
from mapservice.errors import APIError
from mapservice.extensions import db
from mapservice.queries.features import service_features
from mapservice.queries.vocabulary import vocabulary
from mapservice.services.exporter import feature_collection, geojson_feature

SWAGGER_UI_FILES = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
                              "favicon-32x32.png", "favicon-16x16.png"})  # fmt: skip


@bp.get("/v1/services.geojson")
@openapi_doc("Public services as RFC 7946 GeoJSON", params=("bbox", "category"), response="FeatureCollection",
             media="application/geo+json", tag="open data")  # fmt: skip
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


@bp.get("/openapi.json")
@openapi_doc("This OpenAPI document", errors=(), tag="open data")
def openapi():
    """The OpenAPI 3 document of this API (generated from the views)."""
    response = jsonify(openapi_document())
    return response


@bp.get("/docs")
def docs():
    """The OpenAPI document rendered by Swagger UI, served by the app (no CDN)."""
    return render_template("api_docs.html")


@bp.get("/docs/assets/<path:filename>")
def docs_asset(filename: str):
    """Swagger UI's files from the ``swagger-ui-bundle`` package."""
    if filename not in SWAGGER_UI_FILES:
        raise APIError("not_found", "no such file", 404)
    return send_from_directory(swagger_ui_path, filename, max_age=86400)


@bp.get("")
@openapi_doc("API root: what is here and the data licence", errors=(), response="LandingPage", tag="open data")
def root():
    """Links to every part of the API, and the licence of the data."""
    license_id = current_app.config["DATA_LICENSE"]

    def link(endpoint: str, rel: str, media: str, title: str, **values) -> dict[str, str]:
        return {"href": url_for(endpoint, _external=True, **values), "rel": rel, "type": media, "title": title}

    return jsonify({
        "title": "mapservice API",
        "description": "Services for people forced from their homes in Central America and Mexico (MIRPS).",
        "license": license_id,
        "links": [
            link("api.root", "self", "application/json", "This document"),
            link("api.openapi", "service-desc", "application/vnd.oai.openapi+json;version=3.0", "OpenAPI document"),
            link("api.docs", "service-doc", "text/html", "API documentation"),
            link("api.services_geojson", "data", "application/geo+json", "Every public service as GeoJSON"),
            link("ogc.landing", "data", "application/json", "OGC API - Features"),
            link("hsds.root", "data", "application/json", "Open Referral HSDS 3.0 API"),
            {"href": license_url(license_id), "rel": "license", "type": "text/html", "title": f"Data licence: {license_id}"},
        ],
    })  # fmt: skip


def license_url(license_id: str) -> str:
    """A page describing the licence (SPDX id)."""
    if license_id == "CC-BY-4.0":
        return "https://creativecommons.org/licenses/by/4.0/"
    return f"https://spdx.org/licenses/{license_id}.html"
