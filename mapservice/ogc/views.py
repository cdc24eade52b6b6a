"""OGC API – Features Part 1 views: landing page, conformance, collections, items, item.

JSON (GeoJSON for features) by default; HTML for ``f=html`` or a client that prefers
``text/html`` (a browser).  Two collections: ``services`` (the public view: a confidential
service only at its generalized point, no address) and ``admin_areas``.
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from typing import Any

from flask import current_app, jsonify, make_response, render_template, request, url_for
from flask_babel import gettext

from mapservice.api.params import bbox_param, code_param, int_param
from mapservice.errors import APIError
from mapservice.extensions import db
from mapservice.i18n import N_
from mapservice.ogc import bp
from mapservice.api.openapi import openapi_doc
from mapservice.queries import features as fq
from mapservice.queries.services import public_service, service_json
from mapservice.queries.vocabulary import vocabulary

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
]
DEFAULT_LIMIT, MAX_LIMIT = 10, 1000
MAX_OFFSET = 10_000_000
GEOJSON = "application/geo+json"
OPENAPI_JSON = "application/vnd.oai.openapi+json;version=3.0"
COLLECTIONS = {
    "services": {
        "title": N_("Services for displaced people"),
        "description": N_(
            "Public services of the MIRPS services map: protection, livelihoods and training, one "
            "point per service. A confidential service (a shelter, a safe house) is shown at an "
            "approximate point 1.5 to 3 km from the real place, without address "
            "(properties.location.approximate = true). Filter with category=<code>."
        ),
        "keywords": ["humanitarian", "refugees", "displacement", "services", "MIRPS"],
    },
    "admin_areas": {
        "title": N_("First-level administrative areas"),
        "description": N_("States, departments and provinces of the seven MIRPS countries (Natural Earth, public domain)."),
        "keywords": ["boundaries", "admin1"],
    },
}
EACH_COLLECTION = {"collection_id": {cid: None for cid in COLLECTIONS}}
SERVICE_ID_RE = re.compile(r"^[1-9]\d{0,9}$")
ADMIN_CODE_RE = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,5}$")


def _wants_html() -> bool:
    fmt = request.args.get("f")
    if fmt is not None:
        if fmt == "html":
            return True
        if fmt in ("json", "geojson"):
            return False
        raise APIError("invalid_parameter", "f must be json or html")
    best = request.accept_mimetypes.best_match(["application/json", GEOJSON, "text/html"])
    return best == "text/html"


def _check_params(*allowed: str) -> None:
    """OGC API – Features: a query parameter the API does not define is a 400."""
    unknown = sorted(set(request.args) - {"f", "lang", *allowed})
    if unknown:
        raise APIError("unknown_parameter", f"unknown query parameter(s): {', '.join(unknown)[:200]}")


def _url(endpoint: str, fmt: str | None = None, **values: Any) -> str:
    if fmt:
        values["f"] = fmt
    return url_for(endpoint, _external=True, **values)


def _self_links(endpoint: str, json_type: str = "application/json", **values: Any) -> list[dict[str, str]]:
    html = _wants_html()
    return [
        {"href": _url(endpoint, "json", **values), "rel": "alternate" if html else "self", "type": json_type,
         "title": N_("This document as JSON")},
        {"href": _url(endpoint, "html", **values), "rel": "self" if html else "alternate", "type": "text/html",
         "title": N_("This document as HTML")},
    ]  # fmt: skip


def _respond(document: dict[str, Any], kind: str, mimetype: str = "application/json"):
    """The document as JSON (English, the same for everyone) or as an HTML page in the
    visitor's language (Spanish by default), which then varies by language too."""
    if _wants_html():
        page = render_template("ogc.html", doc=document, kind=kind, vocab=vocabulary(), tr=gettext)
        response = make_response(page)
        response.vary.add("Accept-Language")
        response.vary.add("Cookie")  # the lang preference cookie
        return response
    response = jsonify(document)
    response.mimetype = mimetype
    return response


def _license_link() -> dict[str, str]:
    license_id = current_app.config["DATA_LICENSE"]
    href = (
        "https://creativecommons.org/licenses/by/4.0/" if license_id == "CC-BY-4.0" else f"https://spdx.org/licenses/{license_id}.html"
    )
    return {"href": href, "rel": "license", "type": "text/html", "title": f"Data licence: {license_id}"}


@bp.get("")
@openapi_doc("OGC API - Features landing page", params=("f",), response="LandingPage", tag="OGC API - Features", html=True)
@bp.get("/")
def landing():
    """Landing page: what this API is and where everything is."""
    _check_params()
    links = _self_links("ogc.landing")
    if "api.openapi" in current_app.view_functions:
        links.append({"href": url_for("api.openapi", _external=True), "rel": "service-desc", "type": OPENAPI_JSON,
                      "title": N_("OpenAPI description of the whole API")})  # fmt: skip
    if "api.docs" in current_app.view_functions:
        links.append({"href": url_for("api.docs", _external=True), "rel": "service-doc", "type": "text/html",
                      "title": N_("API documentation")})  # fmt: skip
    links += [
        {"href": _url("ogc.conformance", "json"), "rel": "conformance", "type": "application/json",
         "title": N_("Conformance classes")},
        {"href": _url("ogc.collections", "json"), "rel": "data", "type": "application/json",
         "title": N_("Collections")},
        _license_link(),
    ]  # fmt: skip
    return _respond(
        {
            "title": N_("mapservice: services for displaced people in Central America and Mexico"),
            "description": N_(
                "OGC API – Features access to the public directory of the MIRPS services map. "
                "Confidential places are generalized."
            ),
            "license": current_app.config["DATA_LICENSE"],
            "links": links,
        },
        "landing",
    )


@bp.get("/conformance")
@openapi_doc("OGC API - Features conformance classes", params=("f",), response="Conformance", tag="OGC API - Features", html=True)
def conformance():
    """The conformance classes this API implements."""
    _check_params()
    return _respond({"conformsTo": CONFORMANCE, "links": _self_links("ogc.conformance")}, "conformance")


def _bbox_list(bbox: fq.BBox | None) -> list[list[float]]:
    return [[round(v, 6) for v in bbox]] if bbox else [[-180.0, -90.0, 180.0, 90.0]]


def _collection(collection_id: str) -> dict[str, Any]:
    meta = COLLECTIONS[collection_id]
    if collection_id == "services":
        extent = fq.public_services_extent(db.session, hide_after_days=current_app.config["VERIFY_HIDE_DAYS"])
    else:
        extent = fq.admin_areas_extent(db.session)
    return {
        "id": collection_id,
        "title": meta["title"],
        "description": meta["description"],
        "keywords": meta["keywords"],
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "extent": {"spatial": {"bbox": _bbox_list(extent), "crs": CRS84}},
        "license": current_app.config["DATA_LICENSE"],
        "links": [
            {"href": _url("ogc.collection", "json", collection_id=collection_id), "rel": "self",
             "type": "application/json", "title": meta["title"]},
            {"href": _url("ogc.collection", "html", collection_id=collection_id), "rel": "alternate",
             "type": "text/html", "title": meta["title"]},
            {"href": _url("ogc.items", "json", collection_id=collection_id), "rel": "items", "type": GEOJSON,
             "title": N_("Features as GeoJSON")},
            {"href": _url("ogc.items", "html", collection_id=collection_id), "rel": "items", "type": "text/html",
             "title": N_("Features as HTML")},
            _license_link(),
        ],
    }  # fmt: skip


@bp.get("/collections")
@openapi_doc("Feature collections", params=("f",), response=N_("Collections"), tag="OGC API - Features", html=True)
def collections():
    """The feature collections: services and admin_areas."""
    _check_params()
    return _respond(
        {"collections": [_collection(cid) for cid in COLLECTIONS], "links": _self_links("ogc.collections")},
        "collections",
    )


def _known(collection_id: str) -> None:
    if collection_id not in COLLECTIONS:
        raise APIError("not_found", f"no collection {collection_id[:64]!r}; see /ogc/collections", 404)


@bp.get("/collections/<collection_id>")
@openapi_doc("One feature collection", params=("f",), response="Collection", errors=(400, 404), tag="OGC API - Features", html=True, expand=EACH_COLLECTION)
def collection(collection_id: str):
    """One collection's description."""
    _known(collection_id)
    _check_params()
    return _respond(_collection(collection_id), "collection")


def service_feature(row: dict[str, Any]) -> dict[str, Any]:
    """A public service as a GeoJSON feature whose properties are the contract's JSON of one
    service (the nearby result's fields without ``distance_km``)."""
    properties = service_json(row, with_distance=False)
    return {
        "type": "Feature",
        "id": row["id"],
        "geometry": {"type": "Point", "coordinates": [properties["location"]["lon"], properties["location"]["lat"]]},
        "properties": properties,
    }


def admin_area_feature(row: dict[str, Any]) -> dict[str, Any]:
    """An administrative area as a GeoJSON feature."""
    return {
        "type": "Feature",
        "id": row["code"],
        "geometry": json.loads(row["geometry"]),
        "properties": {"code": row["code"], "name": row["name"], "country": row["country_code"],
                       "country_name": row["country_name"]},  # fmt: skip
    }


@bp.get("/collections/<collection_id>/items")
@openapi_doc("Features in a bbox, a page at a time", params=("bbox", "ogc_limit", "offset", "f"), response="FeatureCollection", media="application/geo+json", errors=(400, 404), tag="OGC API - Features", html=True,
             expand={"collection_id": {"services": ("bbox", "ogc_limit", "offset", "category", "f"), "admin_areas": None}})
def items(collection_id: str):
    """Features of a collection in a bbox, ``limit`` at a time, with next/prev links."""
    _known(collection_id)
    if collection_id == "services":
        _check_params("bbox", "limit", "offset", "category")
    else:
        _check_params("bbox", "limit", "offset")
    bbox = bbox_param(request.args)
    limit = min(int_param(request.args, "limit", 1, 10**9, DEFAULT_LIMIT), MAX_LIMIT)
    offset = int_param(request.args, "offset", 0, MAX_OFFSET, 0)
    if collection_id == "services":
        category = code_param(request.args, "category", vocabulary().category_codes)
        page = fq.service_features(
            db.session, bbox=bbox, category=category, limit=limit, offset=offset,
            hide_after_days=current_app.config["VERIFY_HIDE_DAYS"],
        )  # fmt: skip
        features = [service_feature(r) for r in page.rows]
    else:
        page = fq.admin_area_features(db.session, bbox=bbox, limit=limit, offset=offset)
        features = [admin_area_feature(r) for r in page.rows]

    args = {k: v for k, v in request.args.items() if k not in ("f", "offset", "limit")}
    fmt = "html" if _wants_html() else "json"
    json_type = GEOJSON

    def page_url(page_offset: int, page_fmt: str) -> str:
        return _url("ogc.items", page_fmt, collection_id=collection_id, **args, limit=limit, offset=page_offset)

    links = [
        {"href": page_url(offset, "json"), "rel": "self" if fmt == "json" else "alternate", "type": json_type,
         "title": N_("This page as GeoJSON")},
        {"href": page_url(offset, "html"), "rel": "self" if fmt == "html" else "alternate", "type": "text/html",
         "title": N_("This page as HTML")},
        {"href": _url("ogc.collection", "json", collection_id=collection_id), "rel": "collection",
         "type": "application/json", "title": COLLECTIONS[collection_id]["title"]},
    ]  # fmt: skip
    page_type = json_type if fmt == "json" else "text/html"
    if offset + len(features) < page.matched:
        links.append({"href": page_url(offset + limit, fmt), "rel": "next", "type": page_type, "title": N_("Next page")})
    if offset > 0:
        links.append(
            {"href": page_url(max(offset - limit, 0), fmt), "rel": "prev", "type": page_type, "title": N_("Previous page")}
        )
    document = {
        "type": "FeatureCollection",
        "features": features,
        "numberMatched": page.matched,
        "numberReturned": len(features),
        "timeStamp": datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "links": links,
    }
    response = _respond(document, "items:" + collection_id, GEOJSON)
    # The ETag of what the page says, not of the second it was made in: the body's hash
    # with its timeStamp left out, so a cache holding this page revalidates it with a 304
    # for as long as the data is unchanged.
    unstamped = response.get_data().replace(document["timeStamp"].encode(), b"")
    response.set_etag(hashlib.sha1(unstamped).hexdigest())
    return response


@bp.get("/collections/<collection_id>/items/<feature_id>")
@openapi_doc("One feature by id", params=("f",), response="Feature", media="application/geo+json", errors=(400, 404), tag="OGC API - Features", html=True, expand=EACH_COLLECTION)
def item(collection_id: str, feature_id: str):
    """One feature by id (a service id, or an admin area's ISO 3166-2 code)."""
    _known(collection_id)
    _check_params()
    not_found = APIError("not_found", f"no feature {feature_id[:64]!r} in {collection_id}", 404)
    if collection_id == "services":
        if not SERVICE_ID_RE.match(feature_id) or int(feature_id) > 2**31 - 1:
            raise not_found
        row = public_service(db.session, int(feature_id), hide_after_days=current_app.config["VERIFY_HIDE_DAYS"])
        feature = service_feature(row) if row else None
    else:
        row = fq.admin_area_feature(db.session, feature_id) if ADMIN_CODE_RE.match(feature_id) else None
        feature = admin_area_feature(row) if row else None
    if feature is None:
        raise not_found
    feature["links"] = _self_links("ogc.item", GEOJSON, collection_id=collection_id, feature_id=feature_id) + [
        {"href": _url("ogc.collection", "json", collection_id=collection_id), "rel": "collection",
         "type": "application/json", "title": COLLECTIONS[collection_id]["title"]},
    ]  # fmt: skip
    return _respond(feature, "item:" + collection_id, GEOJSON)
