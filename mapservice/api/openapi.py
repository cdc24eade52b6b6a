"""The OpenAPI 3 document of the whole HTTP API, generated from the views (apispec).

Each view documents itself with one decorator next to its route, e.g.::

    @bp.get("/v1/places")
    @openapi_doc("Search towns", params=("q", "limit_places"), response="Places", errors=(400,))
    def places(): ...

:func:`build_spec` walks the app's URL map, turns ``<int:service_id>`` into a path
parameter, and adds the operation of every view that carries such a document, so the
document lists exactly the routes that exist.  Schemas, parameters and responses that
operations name live in the ``components`` below.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from apispec import APISpec
from flask import Flask, current_app

OPENAPI_VERSION = "3.0.3"
_DOC_ATTR = "__openapi__"

_nullable_string = {"type": "string", "nullable": True}
_codes = {"type": "array", "items": {"type": "string"}}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                               "errors": {"type": "array", "items": {"type": "string"}}},  # fmt: skip
            }
        },
    },
    "Location": {
        "type": "object",
        "required": ["lat", "lon", "approximate", "address"],
        "properties": {
            "lat": {"type": "number", "minimum": -90, "maximum": 90},
            "lon": {"type": "number", "minimum": -180, "maximum": 180},
            "approximate": {"type": "boolean", "description": "true for a confidential place: a generalized point"},
            "address": {**_nullable_string, "description": "null for a confidential place"},
        },
    },
    "Service": {
        "type": "object",
        "required": ["id", "name", "organization", "categories", "location", "phone", "whatsapp", "email",
                     "website", "languages", "populations", "free", "hours", "last_verified"],  # fmt: skip
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "organization": {
                "type": "object",
                "required": ["id", "name"],
                "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
            },
            "categories": _codes,
            "location": {"$ref": "#/components/schemas/Location"},
            "phone": {**_nullable_string, "description": "E.164"},
            "whatsapp": {**_nullable_string, "description": "E.164"},
            "email": _nullable_string,
            "website": _nullable_string,
            "languages": _codes,
            "populations": _codes,
            "free": {"type": "boolean", "nullable": True},
            "hours": {**_nullable_string, "description": "OpenStreetMap opening_hours"},
            "last_verified": {"type": "string", "format": "date", "nullable": True},
            "description": _nullable_string,
            "country": {"type": "string"},
            "demo": {"type": "boolean"},
        },
        "example": {
            "id": 12, "name": "Orientación sobre asilo", "organization": {"id": 3, "name": "Albergue del Sur"},
            "categories": ["protection.asylum"], "location": {"lat": 14.9067, "lon": -92.2635, "approximate": False,
            "address": "Av. Central 10, Tapachula"}, "phone": "+529626251234", "whatsapp": None, "email": None,
            "website": None, "languages": ["es", "en"], "populations": ["refugees"], "free": True,
            "hours": "Mo-Fr 09:00-15:00", "last_verified": "2026-11-02", "description": "", "country": "MX",
            "demo": False,
        },  # fmt: skip
    },
    "NearbyResults": {
        "type": "object",
        "required": ["results"],
        "properties": {
            "results": {
                "type": "array",
                "items": {"allOf": [
                    {"$ref": "#/components/schemas/Service"},
                    {"type": "object", "required": ["distance_km"],
                     "properties": {"distance_km": {"type": "number", "minimum": 0}}},
                ]},  # fmt: skip
            }
        },
    },
    "Clusters": {
        "type": "object",
        "required": ["clusters", "total", "cell_degrees", "max_clusters"],
        "properties": {
            "clusters": {"type": "array", "maxItems": 2000, "items": {
                "type": "object", "required": ["lat", "lon", "count"],
                "properties": {"lat": {"type": "number"}, "lon": {"type": "number"},
                               "count": {"type": "integer", "minimum": 1}, "id": {"type": "integer"},
                               "name": _nullable_string}}},
            "total": {"type": "integer", "minimum": 0},
            "cell_degrees": {"type": "number"},
            "max_clusters": {"type": "integer"},
        },
    },  # fmt: skip
    "Basemap": {
        "type": "object",
        "description": "GeoJSON FeatureCollection: a `country` polygon per country, one `areas` multi-line of the "
                       "boundaries between first-level areas, a `town` point per town of 50,000 people or more",
        "required": ["type", "features"],
        "properties": {
            "type": {"type": "string", "enum": ["FeatureCollection"]},
            "features": {"type": "array", "items": {
                "type": "object", "required": ["type", "geometry", "properties"],
                "properties": {"type": {"type": "string"}, "geometry": {"type": "object"}, "properties": {
                    "type": "object", "required": ["kind"],
                    "properties": {"kind": {"type": "string", "enum": ["country", "areas", "town"]},
                                   "country": {"type": "string"}, "name": {"type": "string"},
                                   "min_zoom": {"type": "integer", "description": "a town is named from this zoom"}}}}}},
        },
    },  # fmt: skip
    "Places": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["name", "country", "admin1", "lat", "lon", "population"],
            "properties": {"name": {"type": "string"}, "country": {"type": "string"}, "admin1": _nullable_string,
                           "lat": {"type": "number"}, "lon": {"type": "number"},
                           "population": {"type": "integer", "nullable": True}},  # fmt: skip
        },
    },
    "Coverage": {
        "type": "object",
        "required": ["country", "category", "areas", "gaps"],
        "properties": {
            "country": {"type": "string"},
            "category": _nullable_string,
            "areas": {"type": "array", "items": {
                "type": "object", "required": ["code", "name", "services"],
                "properties": {"code": {"type": "string"}, "name": {"type": "string"},
                               "services": {"type": "integer", "minimum": 0}}}},  # fmt: skip
            "gaps": _codes,
        },
    },
    "CoverageGaps": {
        "type": "object",
        "required": ["places"],
        "properties": {"places": {"type": "array", "items": {
            "type": "object", "required": ["name", "lat", "lon", "population", "nearest_km"],
            "properties": {"name": {"type": "string"}, "lat": {"type": "number"}, "lon": {"type": "number"},
                           "population": {"type": "integer", "nullable": True},
                           "nearest_km": {"type": "number", "nullable": True}}}}},  # fmt: skip
    },
    "PointGeometry": {
        "type": "object",
        "required": ["type", "coordinates"],
        "properties": {"type": {"type": "string", "enum": ["Point"]},
                       "coordinates": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number"}}},  # fmt: skip
    },
    "Geometry": {
        "type": "object",
        "required": ["type", "coordinates"],
        "properties": {"type": {"type": "string", "enum": ["Point", "Polygon", "MultiPolygon"]},
                       "coordinates": {"type": "array"}},  # fmt: skip
    },
    "Feature": {
        "type": "object",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
            "geometry": {"$ref": "#/components/schemas/Geometry"},
            "properties": {"type": "object"},
            "links": {"type": "array", "items": {"$ref": "#/components/schemas/Link"}},
        },
    },
    "FeatureCollection": {
        "type": "object",
        "required": ["type", "features"],
        "properties": {
            "type": {"type": "string", "enum": ["FeatureCollection"]},
            "features": {"type": "array", "items": {"$ref": "#/components/schemas/Feature"}},
            "license": {"type": "string", "description": "SPDX id of the data licence"},
            "numberMatched": {"type": "integer", "minimum": 0},
            "numberReturned": {"type": "integer", "minimum": 0},
            "timeStamp": {"type": "string", "format": "date-time"},
            "links": {"type": "array", "items": {"$ref": "#/components/schemas/Link"}},
        },
    },
    "Link": {
        "type": "object",
        "required": ["href", "rel"],
        "properties": {"href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"},
                       "title": {"type": "string"}},  # fmt: skip
    },
    "LandingPage": {
        "type": "object",
        "required": ["links"],
        "properties": {"title": {"type": "string"}, "description": {"type": "string"},
                       "license": {"type": "string"},
                       "links": {"type": "array", "items": {"$ref": "#/components/schemas/Link"}}},  # fmt: skip
    },
    "Conformance": {
        "type": "object",
        "required": ["conformsTo"],
        "properties": {"conformsTo": {"type": "array", "items": {"type": "string"}}},
    },
    "Collection": {
        "type": "object",
        "required": ["id", "links"],
        "properties": {"id": {"type": "string"}, "title": {"type": "string"}, "description": {"type": "string"},
                       "itemType": {"type": "string"}, "crs": {"type": "array", "items": {"type": "string"}},
                       "extent": {"type": "object"},
                       "links": {"type": "array", "items": {"$ref": "#/components/schemas/Link"}}},  # fmt: skip
    },
    "Collections": {
        "type": "object",
        "required": ["collections", "links"],
        "properties": {"collections": {"type": "array", "items": {"$ref": "#/components/schemas/Collection"}},
                       "links": {"type": "array", "items": {"$ref": "#/components/schemas/Link"}}},  # fmt: skip
    },
    "ListingInput": {
        "type": "object",
        "description": "The listing fields of the CSV (organization excluded: it is the token's).",
        "properties": {
            "external_id": {"type": "string", "maxLength": 200},
            "service_name": {"type": "string", "maxLength": 300},
            "description": {"type": "string", "maxLength": 5000},
            "categories": _codes,
            "populations": _codes,
            "languages": _codes,
            "country": {"type": "string", "enum": ["BZ", "CR", "SV", "GT", "HN", "MX", "PA"]},
            "address": {"type": "string", "maxLength": 500},
            "latitude": {"type": "number", "minimum": -90, "maximum": 90},
            "longitude": {"type": "number", "minimum": -180, "maximum": 180},
            "phone": {"type": "string"},
            "whatsapp": {"type": "string"},
            "email": {"type": "string"},
            "website": {"type": "string"},
            "hours": {"type": "string", "description": "OpenStreetMap opening_hours"},
            "free": {"type": "boolean"},
            "confidential": {"type": "boolean"},
        },
        "example": {
            "external_id": "ex-001", "service_name": "Orientación sobre asilo", "categories": ["protection.asylum"],
            "country": "MX", "latitude": 14.9067, "longitude": -92.2635, "phone": "+52 962 625 1234",
            "hours": "Mo-Fr 09:00-15:00", "free": True, "confidential": False,
        },  # fmt: skip
    },
    # HSDS 3.0: the outline of the official schemas (schema/*.json of HSDS 3.0, which the tests
    # validate every response against); HSDS objects may carry more of their optional fields.
    "HSDSRoot": {
        "type": "object",
        "required": ["version", "openapi_url"],
        "properties": {"version": {"type": "string", "enum": ["3.0"]}, "openapi_url": {"type": "string"},
                       "profile": {"type": "string"}},  # fmt: skip
    },
    "HSDSPage": {
        "type": "object",
        "description": "HSDS's Page: page_number counts from 1; size is the number of items on this page",
        "required": ["total_items", "total_pages", "page_number", "size", "first_page", "last_page", "empty", "contents"],
        "properties": {"total_items": {"type": "integer", "minimum": 0}, "total_pages": {"type": "integer", "minimum": 0},
                       "page_number": {"type": "integer", "minimum": 1}, "size": {"type": "integer", "minimum": 0},
                       "first_page": {"type": "boolean"}, "last_page": {"type": "boolean"}, "empty": {"type": "boolean"},
                       "contents": {"type": "array", "items": {"type": "object"}}},  # fmt: skip
    },
    "HSDSService": {
        "type": "object",
        "description": "An HSDS 3.0 service (compiled/service_with_definitions.json); lists leave out its arrays",
        "required": ["id", "name", "status"],
        "properties": {"id": {"type": "string", "format": "uuid"}, "organization_id": {"type": "string", "format": "uuid"},
                       "name": {"type": "string"}, "description": {"type": "string"},
                       "status": {"type": "string", "enum": ["active", "inactive", "defunct", "temporarily closed"]},
                       "email": {"type": "string"}, "url": {"type": "string"}, "last_modified": {"type": "string"},
                       "organization": {"$ref": "#/components/schemas/HSDSOrganization"},
                       "service_at_locations": {"type": "array", "items": {"type": "object"}},
                       "phones": {"type": "array", "items": {"type": "object"}},
                       "schedules": {"type": "array", "items": {"type": "object"}},
                       "languages": {"type": "array", "items": {"type": "object"}},
                       "attributes": {"type": "array", "items": {"type": "object"}}},  # fmt: skip
    },
    "HSDSServiceMinimal": {
        "type": "object",
        "required": ["id", "modified_date"],
        "properties": {"id": {"type": "string", "format": "uuid"}, "modified_date": {"type": "string", "nullable": True}},
    },
    "HSDSOrganization": {
        "type": "object",
        "description": "An HSDS 3.0 organization (organization.json); services when asked for",
        "required": ["id", "name", "description"],
        "properties": {"id": {"type": "string", "format": "uuid"}, "name": {"type": "string"},
                       "description": {"type": "string"}, "email": {"type": "string"}, "website": {"type": "string"},
                       "services": {"type": "array", "items": {"$ref": "#/components/schemas/HSDSService"}}},  # fmt: skip
    },
    "HSDSTaxonomy": {
        "type": "object",
        "required": ["id", "name", "description"],
        "properties": {"id": {"type": "string", "format": "uuid"}, "name": {"type": "string"},
                       "description": {"type": "string"}, "version": {"type": "string"}},  # fmt: skip
    },
    "HSDSTaxonomyTerm": {
        "type": "object",
        "required": ["id", "name", "description"],
        "properties": {"id": {"type": "string", "format": "uuid"}, "code": {"type": "string"}, "name": {"type": "string"},
                       "description": {"type": "string"}, "parent_id": {"type": "string", "format": "uuid"},
                       "taxonomy": {"type": "string"}, "taxonomy_id": {"type": "string", "format": "uuid"},
                       "language": {"type": "string"}},  # fmt: skip
    },
    "WrittenService": {
        "description": "The service as published (with its external_id), or a short form when it is not public yet.",
        "type": "object",
        "required": ["id", "external_id", "name"],
        "properties": {"id": {"type": "integer"}, "external_id": {"type": "string"}, "name": {"type": "string"},
                       "public": {"type": "boolean"}},  # fmt: skip
    },
}

for _name, _item in (("HSDSServicePage", {"anyOf": [{"$ref": "#/components/schemas/HSDSService"},
                                                    {"$ref": "#/components/schemas/HSDSServiceMinimal"}]}),
                     ("HSDSOrganizationPage", {"$ref": "#/components/schemas/HSDSOrganization"}),
                     ("HSDSTaxonomyPage", {"$ref": "#/components/schemas/HSDSTaxonomy"}),
                     ("HSDSTaxonomyTermPage", {"$ref": "#/components/schemas/HSDSTaxonomyTerm"})):
    SCHEMAS[_name] = {"allOf": [{"$ref": "#/components/schemas/HSDSPage"},
                                {"type": "object", "properties": {"contents": {"type": "array", "items": _item}}}]}

_limit_doc = "How many results"
_LON = r"-?(?:180(?:\.0+)?|(?:1[0-7]\d|\d{1,2})(?:\.\d{1,8})?)"
_LAT = r"-?(?:90(?:\.0+)?|\d{1,2}(?:\.\d{1,8})?)".replace("\\d{1,2}", "[0-8]?\\d")
_BBOX_PATTERN = f"^{_LON},{_LAT},{_LON},{_LAT}$"
PARAMETERS: dict[str, dict[str, Any]] = {
    "lat": {"in": "query", "name": "lat", "required": True, "schema": {"type": "number", "minimum": -90, "maximum": 90},
            "description": "Latitude (WGS84 decimal degrees); the search uses it rounded to 3 decimals (about 110 m)",
            "example": 14.906},
    "lon": {"in": "query", "name": "lon", "required": True, "schema": {"type": "number", "minimum": -180, "maximum": 180},
            "description": "Longitude (WGS84 decimal degrees); the search uses it rounded to 3 decimals (about 110 m)",
            "example": -92.263},
    "category": {"in": "query", "name": "category", "schema": {"type": "string"},
                 "description": "A category code; matches itself and every code below it", "example": "protection"},
    "population": {"in": "query", "name": "population", "schema": {"type": "string"},
                   "description": "A population code", "example": "children"},
    "language": {"in": "query", "name": "language", "schema": {"type": "string", "pattern": "^[a-z]{2,3}$"},
                 "description": "An ISO 639 code", "example": "es"},
    "radius_km": {"in": "query", "name": "radius_km", "schema": {"type": "number", "minimum": 0.001, "maximum": 20000},
                  "description": "Only services within this many km"},
    "limit": {"in": "query", "name": "limit", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
              "description": _limit_doc},
    "limit_places": {"in": "query", "name": "limit", "schema": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
                     "description": _limit_doc},
    "q": {"in": "query", "name": "q", "required": True,
          "schema": {"type": "string", "maxLength": 100, "pattern": "^[^\\u0000-\\u001f]*[^\\s\\u0000-\\u001f][^\\u0000-\\u001f]*$"},
          "description": "Town name; text after a comma narrows by state or country", "example": "Tapachula"},
    "country": {"in": "query", "name": "country", "required": True,
                "schema": {"type": "string", "enum": ["BZ", "CR", "SV", "GT", "HN", "MX", "PA"]},
                "description": "ISO 3166-1 alpha-2 code"},
    "beyond_km": {"in": "query", "name": "beyond_km", "required": True,
                  "schema": {"type": "number", "minimum": 0.001, "maximum": 5000},
                  "description": "Towns farther than this from any matching service"},
    "bbox": {"in": "query", "name": "bbox", "schema": {"type": "string", "pattern": _BBOX_PATTERN},
             "description": "min lon,min lat,max lon,max lat (CRS84; min lat not above max lat; a min lon "
                            "above the max lon crosses the antimeridian)", "example": "-92.5,14.5,-92.0,15.2"},
    "zoom": {"in": "query", "name": "zoom", "schema": {"type": "integer", "minimum": 0, "maximum": 18, "default": 6},
             "description": "Web map zoom level: the grid cell is about 48 pixels at this zoom"},
    "ogc_limit": {"in": "query", "name": "limit", "schema": {"type": "integer", "minimum": 1, "default": 10},
                  "description": "Features per page (at most 1000 are returned)"},
    "offset": {"in": "query", "name": "offset", "schema": {"type": "integer", "minimum": 0, "maximum": 10000000, "default": 0},
               "description": "Features to skip (the next/prev links carry it)"},
    "f": {"in": "query", "name": "f", "schema": {"type": "string", "enum": ["json", "html"]},
          "description": "Encoding (default: by Accept, else JSON)"},
    # HSDS 3.0 API (names as in HSDS's openapi.json; the hsds_ prefix only keys them here)
    "hsds_search": {"in": "query", "name": "search",
                    "schema": {"type": "string", "maxLength": 200, "pattern": "^[^\\u0000-\\u001f]*$"},
                    "description": "Words that must all appear (accents and case ignored) in the name or description "
                                   "(services: or the organization's name)", "example": "asilo"},
    "hsds_page": {"in": "query", "name": "page", "schema": {"type": "integer", "minimum": 1, "maximum": 10000000, "default": 1},
                  "description": "Page number, from 1; a page past the last is empty"},
    "hsds_per_page": {"in": "query", "name": "per_page",
                      "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
                      "description": "Items per page"},
    "hsds_format": {"in": "query", "name": "format", "schema": {"type": "string", "enum": ["json"], "default": "json"},
                    "description": "Only json (HSDS's optional ndjson stream is not offered)"},
    "hsds_taxonomy_term_id": {"in": "query", "name": "taxonomy_term_id", "schema": {"type": "string", "format": "uuid"},
                              "description": "Services with this term (a category term also matches the categories below it)"},
    "hsds_taxonomy_id": {"in": "query", "name": "taxonomy_id", "schema": {"type": "string", "format": "uuid"},
                         "description": "Only what has a term of this taxonomy"},
    "hsds_organization_id": {"in": "query", "name": "organization_id", "schema": {"type": "string", "format": "uuid"},
                             "description": "Services of this organization"},
    "hsds_modified_after": {"in": "query", "name": "modified_after", "schema": {"type": "string", "format": "date-time"},
                            "description": "Services changed at or after this time (RFC 3339; a date means midnight UTC)",
                            "example": "2026-11-01T00:00:00Z"},
    "hsds_minimal": {"in": "query", "name": "minimal", "schema": {"type": "boolean", "default": False},
                     "description": "Only each service's id and modified_date (wins over full)"},
    "hsds_full": {"in": "query", "name": "full", "schema": {"type": "boolean", "default": False},
                  "description": "Fully nested services, as the HSDS export writes them"},
    "hsds_full_organization": {"in": "query", "name": "full", "schema": {"type": "boolean", "default": False},
                               "description": "Each organization with its services"},
    "hsds_full_service": {"in": "query", "name": "full_service", "schema": {"type": "boolean", "default": False},
                          "description": "The organization's services fully nested"},
    "hsds_top_only": {"in": "query", "name": "top_only", "schema": {"type": "boolean", "default": False},
                      "description": "Only terms without a parent"},
    "hsds_parent_id": {"in": "query", "name": "parent_id", "schema": {"type": "string", "format": "uuid"},
                       "description": "Only the children of this term"},
    "If-Match": {"in": "header", "name": "If-Match", "required": True, "schema": {"type": "string"},
                 "description": "The ETag last read"},
}  # fmt: skip

ERROR_RESPONSES = {
    400: "Invalid parameter or body",
    401: "No valid bearer token",
    403: "Not allowed for this token",
    404: "Not found",
    409: "Conflicts with the service's state",
    412: "The ETag is stale",
    415: "The body is not JSON",
    428: "If-Match is required",
    429: "Too many requests (see Retry-After)",
}


def openapi_doc(
    summary: str,
    *,
    params: Iterable[str] = (),
    response: str | None = None,
    media: str = "application/json",
    status: int = 200,
    errors: Iterable[int] = (400,),
    body: str | None = None,
    auth: bool = False,
    tag: str = "directory",
    html: bool = False,
    expand: dict[str, dict[str, Iterable[str] | None]] | None = None,
) -> Callable:
    """Document the view below: ``params`` and ``response``/``body`` name components above.

    ``expand={"collection_id": {"services": (...params), "admin_areas": None}}`` documents one
    path per value of a path parameter, each with its own query parameters (``None``: the
    view's ``params``), as OGC API – Features documents one path per collection.
    """

    def decorate(view: Callable) -> Callable:
        setattr(view, _DOC_ATTR, {
            "summary": summary, "params": tuple(params), "response": response, "media": media,
            "status": status, "errors": tuple(errors), "body": body, "auth": auth, "tag": tag, "html": html,
            "expand": expand or {},
        })  # fmt: skip
        return view

    return decorate


def _operation(doc: dict[str, Any], path_params: list[dict[str, Any]], description: str) -> dict[str, Any]:
    content: dict[str, Any] = {}
    if doc["response"]:
        content[doc["media"]] = {"schema": {"$ref": f"#/components/schemas/{doc['response']}"}}
    if doc["html"]:
        content["text/html"] = {"schema": {"type": "string"}}
    ok: dict[str, Any] = {"description": "OK" if doc["status"] != 204 else "Done, no content"}
    if content:
        ok["content"] = content
    responses: dict[str, Any] = {str(doc["status"]): ok}
    for code in (*doc["errors"], 429):
        responses[str(code)] = {"$ref": f"#/components/responses/Error{code}"}
    operation: dict[str, Any] = {
        "summary": doc["summary"],
        "tags": [doc["tag"]],
        "parameters": path_params + list(doc["params"]),  # names: apispec makes them refs
        "responses": responses,
    }
    if description:
        operation["description"] = description
    if doc["body"]:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{doc['body']}"}}},
        }
    if doc["auth"]:
        operation["security"] = [{"bearerToken": []}]
    return operation


_PATH_SCHEMAS = {"int": {"type": "integer", "minimum": 1}, "uuid": {"type": "string", "format": "uuid"}}
_CONVERTER_RE = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def _with_vocabulary(parameters: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The parameters with the category and population codes of the database as enums."""
    from mapservice.queries.vocabulary import vocabulary

    vocab = vocabulary()
    result = dict(parameters)
    for name, codes in (("category", vocab.categories), ("population", vocab.populations)):
        if codes:
            # An empty value means "any", as an empty form field does.
            result[name] = {**parameters[name], "schema": {"type": "string", "enum": ["", *codes]}}
    return result


def _expanded(rule: str, doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(path, doc)`` for each value of the expanded path parameter (or the rule itself)."""
    if not doc["expand"]:
        return [(rule, doc)]
    ((name, values),) = doc["expand"].items()
    pattern = re.compile(rf"<(?:\w+:)?{name}>")
    return [
        (pattern.sub(value, rule), {**doc, "params": tuple(params) if params is not None else doc["params"]})
        for value, params in values.items()
    ]


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of every documented route of ``app``."""
    spec = APISpec(
        title="mapservice API",
        version="1",
        openapi_version=OPENAPI_VERSION,
        info={
            "description": (
                "Services for people forced from their homes in Central America and Mexico (MIRPS). "
                "Public reads need no account; writes need an organization's bearer token. Confidential "
                "places are only ever published as an approximate point without address."
            ),
            "license": {"name": f"Data: {app.config['DATA_LICENSE']}; code: AGPL-3.0-or-later"},
        },
    )
    for name, schema in SCHEMAS.items():
        spec.components.schema(name, schema)
    for name, parameter in _with_vocabulary(PARAMETERS).items():
        spec.components.parameter(name, parameter["in"], {k: v for k, v in parameter.items() if k != "in"})
    for code, description in ERROR_RESPONSES.items():
        response = {"description": description,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}  # fmt: skip
        if code == 429:
            response["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}}
        spec.components.response(f"Error{code}", response)
    spec.components.security_scheme("bearerToken", {"type": "http", "scheme": "bearer"})

    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions.get(rule.endpoint)
        doc = getattr(view, _DOC_ATTR, None)
        if doc is None or rule.rule.endswith("/") and rule.rule != "/":
            continue
        description = (view.__doc__ or "").strip()
        for path, path_doc in _expanded(rule.rule, doc):
            path_params = [
                {"in": "path", "name": name, "required": True, "schema": _PATH_SCHEMAS.get(converter, {"type": "string"})}
                for converter, name in _CONVERTER_RE.findall(path)
            ]  # fmt: skip
            path = _CONVERTER_RE.sub(r"{\2}", path)
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                paths.setdefault(path, {})[method.lower()] = _operation(path_doc, path_params, description)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def openapi_document() -> dict[str, Any]:
    """The current app's document, built once per process."""
    cached = current_app.extensions.get("mapservice.openapi")
    if cached is None:
        cached = build_spec(current_app)
        current_app.extensions["mapservice.openapi"] = cached
    return cached
