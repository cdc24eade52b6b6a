"""Read queries over the public view of the directory (SQLAlchemy Core, one round trip each).

The public view never exposes ``location.geom`` or the address of a confidential service:
every query here selects ``public_geom`` and blanks the address in SQL, so the exact
point does not even reach the Python process of a public request.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

# How many planar KNN candidates to take per wanted result before the exact geodesic pass.
CANDIDATE_FACTOR = 3

PUBLIC_COLUMNS = """
    s.id, s.external_id, s.name, s.description, s.organization_id, o.name AS organization_name,
    s.categories, s.populations, s.languages, s.phone, s.whatsapp, s.email, s.website,
    s.hours, s.free, s.confidential, s.last_verified, (s.is_demo OR o.is_demo) AS demo,
    ST_Y(l.public_geom) AS lat, ST_X(l.public_geom) AS lon,
    CASE WHEN s.confidential THEN NULL ELSE l.address END AS address,
    l.country_code, l.declared_country, l.admin_area_code, l.timezone, s.updated_at, s.version
"""

# What an export (HSDS) adds to ``PUBLIC_COLUMNS``: the organization's public fields and the
# ids of each service-at-location row.
EXPORT_COLUMNS = """
    o.website AS organization_website, o.email AS organization_email,
    o.description AS organization_description, sal.id AS service_at_location_id, l.id AS location_id
"""

PUBLIC_JOINS = """
    service s
    JOIN organization o ON o.id = s.organization_id
    JOIN service_at_location sal ON sal.service_id = s.id
    JOIN location l ON l.id = sal.location_id
"""

PUBLIC_WHERE = """
    s.status = 'active' AND s.deleted_at IS NULL AND o.status = 'approved'
    AND (s.last_verified IS NULL OR s.last_verified >= :verified_since)
"""


@dataclass(frozen=True)
class NearbyFilters:
    """What a visitor narrowed the search to; every field is optional."""

    category: str | None = None
    population: str | None = None
    language: str | None = None
    radius_km: float | None = None


def _search_filter_sql(filters: NearbyFilters) -> str:
    """Conditions on ``nearby_search ns`` (public rows only; the category is an index condition)."""
    parts = ["ns.last_verified IS NULL OR ns.last_verified >= :verified_since"]
    if filters.category:
        # category_keys holds each code and its ancestors (migration 0004), so a code
        # matches itself and everything below it.
        parts.append("ns.category_keys @> ARRAY[hashtext(CAST(:category AS text))]")
    if filters.population:
        parts.append("CAST(:population AS varchar) = ANY(ns.populations)")
    if filters.language:
        parts.append("CAST(:language AS varchar) = ANY(ns.languages)")
    if filters.radius_km is not None:
        parts.append("ST_DWithin(ns.public_geom::geography, (SELECT pt FROM q)::geography, :radius_m)")
    return " AND ".join(f"({p.strip()})" for p in parts)


def _filter_sql(filters: NearbyFilters) -> str:
    """Conditions on the directory joins (``PUBLIC_JOINS``), for queries that do not
    order by distance (OGC features, bbox pages); nearby search uses ``nearby_search``."""
    parts = [PUBLIC_WHERE]
    if filters.category:
        parts.append(
            "s.categories && ARRAY(SELECT c.code FROM category c "
            "WHERE c.code = :category OR c.code LIKE :category_prefix)::varchar[]"
        )
    if filters.population:
        parts.append("CAST(:population AS varchar) = ANY(s.populations)")
    if filters.language:
        parts.append("CAST(:language AS varchar) = ANY(s.languages)")
    if filters.radius_km is not None:
        parts.append("ST_DWithin(l.public_geom::geography, (SELECT pt FROM q)::geography, :radius_m)")
    return " AND ".join(f"({p.strip()})" for p in parts)


def _params(filters: NearbyFilters, verified_since: date) -> dict[str, Any]:
    return {
        "category": filters.category,
        "category_prefix": f"{filters.category}.%" if filters.category else None,
        "population": filters.population,
        "language": filters.language,
        "radius_m": filters.radius_km * 1000 if filters.radius_km is not None else None,
        "verified_since": verified_since,
    }


def verified_since(hide_after_days: int, today: date | None = None) -> date:
    """The oldest verification date that still keeps a listing public."""
    return (today or date.today()) - timedelta(days=hide_after_days)


def nearest_services(
    session: Session,
    lat: float,
    lon: float,
    filters: NearbyFilters = NearbyFilters(),
    limit: int = 20,
    *,
    hide_after_days: int = 365,
) -> list[dict[str, Any]]:
    """The ``limit`` public services nearest to (lat, lon), in exact geodesic order.

    Planar KNN on the GiST index (``<->``, index-ordered) gives ``CANDIDATE_FACTOR`` x
    ``limit`` candidates; the k-th smallest geodesic distance among them bounds the true
    k-th nearest, so an ``ST_DWithin`` on the geography index over that radius holds every
    true result, which is then ranked by spheroidal ``ST_Distance``.  Ties break by id.
    """
    sql, params = nearest_services_sql(lat, lon, filters, limit, hide_after_days=hide_after_days)
    return [dict(r) for r in session.execute(text(sql), params).mappings()]


def nearest_services_sql(
    lat: float,
    lon: float,
    filters: NearbyFilters = NearbyFilters(),
    limit: int = 20,
    *,
    hide_after_days: int = 365,
) -> tuple[str, dict[str, Any]]:
    """The SQL text and parameters of :func:`nearest_services` (the benchmark EXPLAINs it).

    Both passes read ``nearby_search`` (one narrow row per public service-at-location,
    kept by triggers) through GiST indexes that hold the category keys too, so a
    category filter stays inside the index scan; only the ``limit`` winners are joined
    to the directory tables, which re-check the public conditions.
    """
    where = _search_filter_sql(filters)
    sql = f"""
    WITH q AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS pt),
    cand AS (
      SELECT ns.public_geom FROM nearby_search ns
       WHERE {where}
       ORDER BY ns.public_geom <-> (SELECT pt FROM q)
       LIMIT :n_candidates
    ),
    bound AS (
      SELECT max(d) AS r FROM (
        SELECT ST_Distance(cand.public_geom::geography, (SELECT pt FROM q)::geography) AS d
          FROM cand ORDER BY d LIMIT :limit) k
    ),
    hits AS (
      SELECT ns.sal_id, ns.service_id,
             ST_Distance(ns.public_geom::geography, (SELECT pt FROM q)::geography) AS d
        FROM nearby_search ns
       WHERE {where}
         AND ST_DWithin(ns.public_geom::geography, (SELECT pt FROM q)::geography,
                        (SELECT r FROM bound) + 0.01)
       ORDER BY d, ns.service_id
       LIMIT :limit
    )
    SELECT {PUBLIC_COLUMNS}, hits.d / 1000.0 AS distance_km
      FROM hits
      JOIN service_at_location sal ON sal.id = hits.sal_id
      JOIN service s ON s.id = sal.service_id
      JOIN organization o ON o.id = s.organization_id
      JOIN location l ON l.id = sal.location_id
     WHERE {PUBLIC_WHERE}
     ORDER BY hits.d, s.id
    """
    params = _params(filters, verified_since(hide_after_days))
    params.update(lat=lat, lon=lon, limit=limit, n_candidates=limit * CANDIDATE_FACTOR)
    return sql, params


def public_service(session: Session, service_id: int, *, hide_after_days: int = 365) -> dict[str, Any] | None:
    """One public service (its first location), or ``None`` when it is not public."""
    sql = f"""
    SELECT {PUBLIC_COLUMNS} FROM {PUBLIC_JOINS}
     WHERE s.id = :id AND {PUBLIC_WHERE}
     ORDER BY sal.id LIMIT 1
    """
    row = session.execute(
        text(sql), {"id": service_id, "verified_since": verified_since(hide_after_days)}
    ).mappings().first()
    return dict(row) if row else None


def public_services(
    session: Session,
    *,
    country: str | None = None,
    hide_after_days: int = 365,
) -> list[dict[str, Any]]:
    """Every public service at each of its locations (for exports), ordered by id."""
    sql = f"""
    SELECT {PUBLIC_COLUMNS}, {EXPORT_COLUMNS}
      FROM {PUBLIC_JOINS}
     WHERE {PUBLIC_WHERE} AND (CAST(:country AS text) IS NULL OR l.declared_country = :country)
     ORDER BY s.id, sal.id
    """
    return [
        dict(r)
        for r in session.execute(
            text(sql), {"country": country, "verified_since": verified_since(hide_after_days)}
        ).mappings()
    ]


def service_json(row: dict[str, Any], *, with_distance: bool = True) -> dict[str, Any]:
    """The contract's JSON shape of one public result."""
    item: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "organization": {"id": row["organization_id"], "name": row["organization_name"]},
        "categories": list(row["categories"]),
    }
    if with_distance:
        item["distance_km"] = round(float(row["distance_km"]), 3)
    item.update(
        {
            "location": {
                "lat": round(float(row["lat"]), 6),
                "lon": round(float(row["lon"]), 6),
                "approximate": bool(row["confidential"]),
                "address": row["address"],
            },
            "phone": row["phone"],
            "whatsapp": row["whatsapp"],
            "email": row["email"],
            "website": row["website"],
            "languages": list(row["languages"]),
            "populations": list(row["populations"]),
            "free": row["free"],
            "hours": row["hours"],
            "last_verified": row["last_verified"].isoformat() if row["last_verified"] else None,
            "description": row["description"],
            "country": row["declared_country"],
            "demo": bool(row["demo"]),
        }
    )
    return item
