"""Read queries of the HSDS 3.0 API: pages of public services and of organizations that
publish them, and one of each by its HSDS id (one round trip each).

Rows are the public view of :mod:`mapservice.queries.services` (``public_geom``, no address
for a confidential service) with the export columns the HSDS mapping needs; services are
ordered by our id, so pages are stable.  HSDS ids are UUID 5 of our ids; the lookups compare
``uuid_generate_v5(...)`` in SQL through the expression indexes of migration 0006, which
must stay the same expressions as :data:`SERVICE_HSDS_ID` and :data:`ORGANIZATION_HSDS_ID`.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from mapservice.queries.features import Page, _paged
from mapservice.queries.services import (
    EXPORT_COLUMNS,
    PUBLIC_COLUMNS,
    PUBLIC_JOINS,
    PUBLIC_WHERE,
    NearbyFilters,
    _params,
    _search_filter_sql,
    verified_since,
)
from mapservice.services.hsds import (
    CATEGORY_TAXONOMY,
    NAMESPACE,
    POPULATION_TAXONOMY,
    all_taxonomy_terms,
    taxonomies,
)

SERVICE_HSDS_ID = f"uuid_generate_v5('{NAMESPACE}'::uuid, 'service/' || s.id::text)"
ORGANIZATION_HSDS_ID = f"uuid_generate_v5('{NAMESPACE}'::uuid, 'organization/' || o.id::text)"
MAX_SEARCH_WORDS = 8


@dataclass(frozen=True)
class ServiceFilters:
    """The HSDS ``/services`` filters, resolved to our data; every field is optional.

    ``category`` matches the code and every code below it; ``any_population`` keeps services
    with at least one population group; ``free_known`` those whose ``free`` is set;
    ``nothing`` is a filter that names nothing of ours (an unknown term id): no result.
    """

    search: str | None = None
    category: str | None = None
    population: str | None = None
    any_population: bool = False
    free_known: bool = False
    organization_id: uuid.UUID | None = None
    organization_ids: tuple[int, ...] | None = None  # our ids, for the services of a page of organizations
    modified_after: datetime | None = None
    nothing: bool = False


def resolve_service_filters(
    terms: Mapping[str, Mapping[str, Mapping[str, Any]]],
    *,
    search: str | None = None,
    taxonomy_term_id: uuid.UUID | None = None,
    taxonomy_id: uuid.UUID | None = None,
    organization_id: uuid.UUID | None = None,
    modified_after: datetime | None = None,
) -> ServiceFilters:
    """The filters of ``/services`` on our data: a term or taxonomy keeps the services whose
    HSDS object carries it (a category term also matches the categories below it).

    ``terms`` is :func:`mapservice.services.hsds.taxonomy_terms`.  An id that names no term
    or taxonomy of ours, or a term outside the given taxonomy, matches nothing.
    """
    fields: dict[str, Any] = {"search": search, "organization_id": organization_id, "modified_after": modified_after}
    if taxonomy_term_id is not None:
        term = next((t for t in all_taxonomy_terms(terms) if t["id"] == str(taxonomy_term_id)), None)
        if term is None or (taxonomy_id is not None and term["taxonomy_id"] != str(taxonomy_id)):
            return ServiceFilters(**fields, nothing=True)
        if term["taxonomy"] == CATEGORY_TAXONOMY:
            fields["category"] = term["code"]
        elif term["taxonomy"] == POPULATION_TAXONOMY:
            fields["population"] = term["code"]
        elif term["code"] == "free":
            fields["free_known"] = True
        # external_id and confidential are on every service, country on every location.
    if taxonomy_id is not None:
        taxonomy = next((t for t in taxonomies() if t["id"] == str(taxonomy_id)), None)
        if taxonomy is None:
            return ServiceFilters(**fields, nothing=True)
        if taxonomy["name"] == POPULATION_TAXONOMY:
            fields["any_population"] = True
        # Every service has a category and our field attributes.
    return ServiceFilters(**fields)


def _like_words(search: str | None) -> list[str]:
    """``LIKE`` patterns, one per word of ``search`` (wildcards in the words escaped)."""
    words = (search or "").split()[:MAX_SEARCH_WORDS]
    return ["%" + re.sub(r"([\\%_])", r"\\\1", word.lower()) + "%" for word in words]


def _search_sql(columns: list[str], words: list[str]) -> str:
    """Every word in one of ``columns``, accents and case ignored."""
    return " AND ".join(
        "(" + " OR ".join(f"f_unaccent(lower({c})) LIKE f_unaccent(:word{i})" for c in columns) + ")"
        for i in range(len(words))
    ) or "true"


def _service_where(filters: ServiceFilters) -> tuple[str, bool, dict[str, Any]]:
    """Conditions on ``nearby_search ns`` (and, when the second value is true, on the
    directory's ``service s`` and ``organization o`` joined to it), and their parameters."""
    words = _like_words(filters.search)
    parts = [_search_filter_sql(NearbyFilters(category=filters.category, population=filters.population).shape)]
    if filters.any_population:
        parts.append("cardinality(ns.populations) > 0")
    joined = [_search_sql(["s.name", "s.description", "o.name"], words)] if words else []
    if filters.free_known:
        joined.append("s.free IS NOT NULL")
    if filters.organization_id is not None:
        joined.append(f"{ORGANIZATION_HSDS_ID} = CAST(:organization_hsds_id AS uuid)")
    if filters.organization_ids is not None:
        joined.append("s.organization_id = ANY(CAST(:organization_ids AS integer[]))")
    if filters.modified_after is not None:
        joined.append("s.updated_at >= :modified_after")
    if filters.nothing:
        parts.append("false")
    params = {f"word{i}": word for i, word in enumerate(words)}
    params.update(organization_hsds_id=str(filters.organization_id) if filters.organization_id else None,
                  modified_after=filters.modified_after,
                  organization_ids=list(filters.organization_ids) if filters.organization_ids is not None else None)  # fmt: skip
    return " AND ".join(f"({p})" for p in parts + joined), bool(joined), params


def service_page(
    session: Session, filters: ServiceFilters, *, limit: int | None, offset: int = 0, hide_after_days: int = 365
) -> tuple[int, list[dict[str, Any]]]:
    """How many public services match, and the export rows (one per service at a location)
    of the ``limit`` services from ``offset``, by service id.

    The matching ids come from ``nearby_search`` (one narrow row per public service at a
    location, kept by triggers; migration 0004), joined to the directory tables only for
    the filters that need them; the page's rows then re-check the public conditions.
    """
    where, needs_directory, params = _service_where(filters)
    joins = (" JOIN service s ON s.id = ns.service_id JOIN organization o ON o.id = s.organization_id"
             if needs_directory else "")  # fmt: skip
    sql = f"""
    WITH m AS (SELECT DISTINCT ns.service_id AS id FROM nearby_search ns{joins} WHERE {where}),
    p AS (SELECT id FROM m ORDER BY id LIMIT :limit OFFSET :offset)
    SELECT (SELECT count(*) FROM m) AS total_items, r.*
      FROM (SELECT 1) one
      LEFT JOIN LATERAL (
        SELECT {PUBLIC_COLUMNS}, {EXPORT_COLUMNS}
          FROM {PUBLIC_JOINS}
         WHERE s.id IN (SELECT id FROM p) AND {PUBLIC_WHERE}
         ORDER BY s.id, sal.id
      ) r ON true
    """
    params.update(_params(NearbyFilters(category=filters.category, population=filters.population),
                          verified_since(hide_after_days)))  # fmt: skip
    params.update(limit=limit, offset=offset)
    rows = [dict(r) for r in session.execute(text(sql), params).mappings()]
    total = int(rows[0]["total_items"]) if rows else 0
    return total, [r for r in rows if r["id"] is not None]


def service_by_hsds_id(session: Session, hsds_id: uuid.UUID, *, hide_after_days: int = 365) -> list[dict[str, Any]]:
    """The export rows of the public service whose HSDS id is ``hsds_id`` (none when there
    is no such public service)."""
    sql = f"""
    SELECT {PUBLIC_COLUMNS}, {EXPORT_COLUMNS}
      FROM {PUBLIC_JOINS}
     WHERE {SERVICE_HSDS_ID} = CAST(:hsds_id AS uuid) AND {PUBLIC_WHERE}
     ORDER BY sal.id
    """
    params = {"hsds_id": str(hsds_id), "verified_since": verified_since(hide_after_days)}
    return [dict(r) for r in session.execute(text(sql), params).mappings()]


ORGANIZATION_COLUMNS = """
    o.id AS organization_id, o.name AS organization_name, o.description AS organization_description,
    o.email AS organization_email, o.website AS organization_website
"""


def _publishing_organizations_sql(where: str) -> str:
    """Approved organizations with at least one public service (those the export names)."""
    return f"""
      SELECT {ORGANIZATION_COLUMNS} FROM organization o
       WHERE o.status = 'approved' AND ({where}) AND EXISTS (
             SELECT 1 FROM service s
               JOIN service_at_location sal ON sal.service_id = s.id
               JOIN location l ON l.id = sal.location_id
              WHERE s.organization_id = o.id AND {PUBLIC_WHERE})
    """


def organization_page(
    session: Session, *, search: str | None, limit: int, offset: int, hide_after_days: int = 365
) -> Page:
    """Organizations with public services whose name or description has every word of
    ``search``, ``limit`` from ``offset`` by id, and how many match."""
    words = _like_words(search)
    matching = _publishing_organizations_sql(_search_sql(["o.name", "o.description"], words))
    params: dict[str, Any] = {f"word{i}": word for i, word in enumerate(words)}
    params["verified_since"] = verified_since(hide_after_days)
    return _paged(session, matching, "organization_id", params, limit, offset)


def organization_by_hsds_id(session: Session, hsds_id: uuid.UUID, *, hide_after_days: int = 365) -> dict[str, Any] | None:
    """The organization with public services whose HSDS id is ``hsds_id``, or ``None``."""
    sql = _publishing_organizations_sql(f"{ORGANIZATION_HSDS_ID} = CAST(:hsds_id AS uuid)")
    params = {"hsds_id": str(hsds_id), "verified_since": verified_since(hide_after_days)}
    row = session.execute(text(sql), params).mappings().first()
    return dict(row) if row else None
