"""HSDS 3.0 API views: ``/hsds``, services, organizations, taxonomies, taxonomy terms.

Objects come from the one HSDS mapping (:mod:`mapservice.services.hsds`, the same as
``mapservice export --format hsds``): a confidential service only at its generalized point,
without address.  Lists are ``Page`` envelopes (``page`` from 1, ``per_page`` items); ids
are the export's UUIDs.  Unknown query parameters, malformed values and ``format`` other
than ``json`` are a JSON 400; an id that names nothing public is a 404.
"""
from __future__ import annotations

import unicodedata
import uuid
from typing import Any

from flask import current_app, jsonify, request, url_for

from mapservice.api.openapi import openapi_doc
from mapservice.api.params import bool_param, datetime_param, int_param, text_param, uuid_param
from mapservice.errors import APIError
from mapservice.extensions import db
from mapservice.hsds_api import bp
from mapservice.queries import hsds as hq
from mapservice.services import hsds

HSDS_VERSION = "3.0"
DEFAULT_PER_PAGE, MAX_PER_PAGE = 50, 500
MAX_PAGE = 10_000_000
TAG = "HSDS 3.0"
LIST_PARAMS = ("hsds_search", "hsds_page", "hsds_per_page", "hsds_format")


def _check_params(*allowed: str) -> None:
    """A query parameter this endpoint does not define is a 400 (a typo would else be ignored)."""
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        raise APIError("unknown_parameter", f"unknown query parameter(s): {', '.join(unknown)[:200]}")


def _paging(*other: str) -> tuple[int, int]:
    """``(page, per_page)`` after checking the parameters (``other``: the endpoint's filters)."""
    _check_params("search", "page", "per_page", "format", *other)
    fmt = text_param(request.args, "format", 20)
    if fmt is not None and fmt != "json":
        raise APIError("invalid_parameter", "format must be json (ndjson is not offered)")
    page = int_param(request.args, "page", 1, MAX_PAGE, 1)
    per_page = int_param(request.args, "per_page", 1, MAX_PER_PAGE, DEFAULT_PER_PAGE)
    return page, per_page


def _search() -> str | None:
    return text_param(request.args, "search", 200)


def _folded(value: object) -> str:
    """Lower case without accents, for matching ``search`` in Python."""
    return "".join(c for c in unicodedata.normalize("NFD", str(value or "").lower()) if not unicodedata.combining(c))


def _matches(item: dict[str, Any], search: str | None, keys: tuple[str, ...]) -> bool:
    """Every word of ``search`` in one of the item's ``keys`` (accents and case ignored)."""
    haystacks = [_folded(item.get(key)) for key in keys]
    return all(any(word in h for h in haystacks) for word in _folded(search).split())


def _page_of(items: list[dict[str, Any]], page: int, per_page: int):
    start = (page - 1) * per_page
    return jsonify(hsds.hsds_page(items[start:start + per_page], total_items=len(items), page_number=page,
                                  per_page=per_page))  # fmt: skip


def _hide_after_days() -> int:
    return current_app.config["VERIFY_HIDE_DAYS"]


@bp.get("")
@openapi_doc("HSDS API root: HSDS version and where this API is described", errors=(), response="HSDSRoot", tag=TAG)
def root():
    """What HSDS version this API serves, and its OpenAPI document."""
    _check_params()
    return jsonify({"version": HSDS_VERSION, "openapi_url": url_for("api.openapi", _external=True)})


@bp.get("/services")
@openapi_doc("HSDS services, a page at a time", params=(*LIST_PARAMS, "hsds_taxonomy_term_id", "hsds_taxonomy_id",
             "hsds_organization_id", "hsds_modified_after", "hsds_minimal", "hsds_full"), response="HSDSServicePage", tag=TAG)  # fmt: skip
def services():
    """Public services: one-to-one fields and organization, or ``full=true`` for fully nested
    services (as the export), or ``minimal=true`` (which wins over ``full``) for ``id`` and
    ``modified_date`` only."""
    page, per_page = _paging("taxonomy_term_id", "taxonomy_id", "organization_id", "modified_after", "minimal", "full")
    full, minimal = bool_param(request.args, "full"), bool_param(request.args, "minimal")
    terms = hsds.taxonomy_terms(db.session)
    filters = hq.resolve_service_filters(
        terms,
        search=_search(),
        taxonomy_term_id=uuid_param(request.args, "taxonomy_term_id"),
        taxonomy_id=uuid_param(request.args, "taxonomy_id"),
        organization_id=uuid_param(request.args, "organization_id"),
        modified_after=datetime_param(request.args, "modified_after"),
    )
    total, rows = hq.service_page(db.session, filters, limit=per_page, offset=(page - 1) * per_page,
                                  hide_after_days=_hide_after_days())  # fmt: skip
    shape = hsds.service_minimal_item if minimal else (lambda s: s) if full else hsds.service_list_item
    contents = [shape(service) for service in hsds.hsds_services_from_rows(rows, terms)]
    return jsonify(hsds.hsds_page(contents, total_items=total, page_number=page, per_page=per_page))


@bp.get("/services/<uuid:service_id>")
@openapi_doc("One HSDS service, fully nested", response="HSDSService", errors=(404,), tag=TAG)
def service(service_id: uuid.UUID):
    """One public service with all its related objects, as in the export."""
    _check_params()
    rows = hq.service_by_hsds_id(db.session, service_id, hide_after_days=_hide_after_days())
    if not rows:
        raise APIError("not_found", f"no public service with id {service_id}", 404)
    (found,) = hsds.hsds_services_from_rows(rows, hsds.taxonomy_terms(db.session))
    return jsonify(found)


def _organizations_with_services(organizations: list[dict[str, Any]], full_service: bool) -> list[dict[str, Any]]:
    """Each organization (rows of :mod:`mapservice.queries.hsds`) with its public ``services``:
    their one-to-one fields, or fully nested for ``full_service``."""
    if not organizations:
        return []
    by_hsds_id = {}
    for row in organizations:
        organization = hsds.hsds_organization(row)
        by_hsds_id[organization["id"]] = organization | {"services": []}
    filters = hq.ServiceFilters(organization_ids=tuple(row["organization_id"] for row in organizations))
    _total, rows = hq.service_page(db.session, filters, limit=None, hide_after_days=_hide_after_days())
    for service_object in hsds.hsds_services_from_rows(rows, hsds.taxonomy_terms(db.session)):
        nested = {key: value for key, value in service_object.items() if key != "organization"}
        shaped = nested if full_service else hsds.service_list_item(nested)
        by_hsds_id[service_object["organization_id"]]["services"].append(shaped)
    return list(by_hsds_id.values())


@bp.get("/organizations")
@openapi_doc("HSDS organizations that publish services, a page at a time",
             params=(*LIST_PARAMS, "hsds_full_organization", "hsds_full_service"), response="HSDSOrganizationPage", tag=TAG)  # fmt: skip
def organizations():
    """Organizations with at least one public service; ``full=true`` adds their ``services``
    (one-to-one fields, or fully nested with ``full_service=true``)."""
    page, per_page = _paging("full", "full_service")
    full, full_service = bool_param(request.args, "full"), bool_param(request.args, "full_service")
    found = hq.organization_page(db.session, search=_search(), limit=per_page, offset=(page - 1) * per_page,
                                 hide_after_days=_hide_after_days())  # fmt: skip
    if full or full_service:
        contents = _organizations_with_services(found.rows, full_service)
    else:
        contents = [hsds.hsds_organization(row) for row in found.rows]
    return jsonify(hsds.hsds_page(contents, total_items=found.matched, page_number=page, per_page=per_page))


@bp.get("/organizations/<uuid:organization_id>")
@openapi_doc("One HSDS organization with its services", params=("hsds_full_service",), response="HSDSOrganization",
             errors=(400, 404), tag=TAG)  # fmt: skip
def organization(organization_id: uuid.UUID):
    """An organization with its public ``services`` (one-to-one fields, or fully nested with
    ``full_service=true``)."""
    _check_params("full_service")
    full_service = bool_param(request.args, "full_service")
    row = hq.organization_by_hsds_id(db.session, organization_id, hide_after_days=_hide_after_days())
    if row is None:
        raise APIError("not_found", f"no organization with public services has id {organization_id}", 404)
    (found,) = _organizations_with_services([row], full_service)
    return jsonify(found)


@bp.get("/taxonomies")
@openapi_doc("HSDS taxonomies, a page at a time", params=LIST_PARAMS, response="HSDSTaxonomyPage", tag=TAG)
def taxonomy_list():
    """Our three taxonomies: categories, population groups, listing fields."""
    page, per_page = _paging()
    search = _search()
    items = [t for t in hsds.taxonomies() if _matches(t, search, ("name", "description"))]
    return _page_of(items, page, per_page)


@bp.get("/taxonomies/<uuid:taxonomy_id>")
@openapi_doc("One HSDS taxonomy", response="HSDSTaxonomy", errors=(404,), tag=TAG)
def taxonomy(taxonomy_id: uuid.UUID):
    """One taxonomy by id."""
    _check_params()
    found = next((t for t in hsds.taxonomies() if t["id"] == str(taxonomy_id)), None)
    if found is None:
        raise APIError("not_found", f"no taxonomy with id {taxonomy_id}", 404)
    return jsonify(found)


@bp.get("/taxonomy_terms")
@openapi_doc("HSDS taxonomy terms, a page at a time",
             params=(*LIST_PARAMS, "hsds_taxonomy_id", "hsds_top_only", "hsds_parent_id"), response="HSDSTaxonomyTermPage", tag=TAG)  # fmt: skip
def taxonomy_terms():
    """Every term of our taxonomies; ``top_only=true`` keeps the terms without a parent,
    ``parent_id`` the children of one term."""
    page, per_page = _paging("taxonomy_id", "top_only", "parent_id")
    search = _search()
    taxonomy_id, parent_id = uuid_param(request.args, "taxonomy_id"), uuid_param(request.args, "parent_id")
    top_only = bool_param(request.args, "top_only")
    items = [
        term for term in hsds.all_taxonomy_terms(hsds.taxonomy_terms(db.session))
        if _matches(term, search, ("name", "code", "description"))
        and (taxonomy_id is None or term["taxonomy_id"] == str(taxonomy_id))
        and (parent_id is None or term.get("parent_id") == str(parent_id))
        and not (top_only and term.get("parent_id"))
    ]  # fmt: skip
    return _page_of(items, page, per_page)


@bp.get("/taxonomy_terms/<uuid:term_id>")
@openapi_doc("One HSDS taxonomy term", response="HSDSTaxonomyTerm", errors=(404,), tag=TAG)
def taxonomy_term(term_id: uuid.UUID):
    """One taxonomy term by id."""
    _check_params()
    terms = hsds.all_taxonomy_terms(hsds.taxonomy_terms(db.session))
    found = next((t for t in terms if t["id"] == str(term_id)), None)
    if found is None:
        raise APIError("not_found", f"no taxonomy term with id {term_id}", 404)
    return jsonify(found)
