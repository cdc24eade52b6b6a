"""Read queries over the public view of the directory (SQLAlchemy Core, one round trip each).

The public view never exposes ``location.geom`` or the address of a confidential service:
every query here selects ``public_geom`` and blanks the address in SQL, so the exact
point does not even reach the Python process of a public request.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, NamedTuple

from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

# How many planar KNN candidates to take per wanted result before the exact geodesic pass.
# Two is enough for the proof to hold at 99% of the benchmark's unfiltered searches (and at
# 97-99% with a filter) and costs a third less spheroidal distances than three.
CANDIDATE_FACTOR = 2

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


@functools.lru_cache(maxsize=512)
def _text(sql: str) -> TextClause:
    """``text(sql)``, parsed once per distinct statement (its bind-parameter scan costs
    more than the rest of the Python side of a nearby query)."""
    return text(sql)


@dataclass(frozen=True)
class NearbyFilters:
    """What a visitor narrowed the search to; every field is optional."""

    category: str | None = None
    population: str | None = None
    language: str | None = None
    radius_km: float | None = None

    @property
    def shape(self) -> FilterShape:
        """Which filters are set: all the statement's text depends on (values are bound)."""
        return FilterShape(bool(self.category), bool(self.population), bool(self.language), self.radius_km is not None)


class FilterShape(NamedTuple):
    """Which of :class:`NearbyFilters` are set."""

    category: bool
    population: bool
    language: bool
    radius: bool


_category_keys: dict[str, int] = {}


def category_key(session: Session, code: str) -> int:
    """``hashtext(code)``, the int that ``nearby_search.category_keys`` holds for a category
    code (asked of the database once per code and process: the hash is PostgreSQL's)."""
    key = _category_keys.get(code)
    if key is None:
        key = _category_keys[code] = session.execute(text("SELECT hashtext(:code)"), {"code": code}).scalar_one()
    return key


def known_category_key(code: str) -> int | None:
    """:func:`category_key` when this process has asked the database for it already, else
    ``None`` (for callers without a session, such as ``mapservice/fastpath.py``)."""
    return _category_keys.get(code)


def _search_filter_sql(shape: FilterShape, category_key: int | None = None) -> str:
    """Conditions on ``nearby_search ns`` (public rows only; the category is an index condition)."""
    parts = ["ns.last_verified IS NULL OR ns.last_verified >= :verified_since"]
    if shape.category:
        # category_keys holds each code and its ancestors (migration 0004), so a code
        # matches itself and everything below it.  A known key is written into the text
        # (an int): the cached generic plan then knows it, as a custom plan would.
        if category_key is not None:
            parts.append(f"ns.category_keys @> '{{{int(category_key)}}}'::int[]")
        else:
            parts.append("ns.category_keys @> ARRAY[hashtext(CAST(:category AS text))]")
    if shape.population:
        parts.append("CAST(:population AS varchar) = ANY(ns.populations)")
    if shape.language:
        parts.append("CAST(:language AS varchar) = ANY(ns.languages)")
    if shape.radius:
        # The planar reach of the radius is an index condition of the KNN scan (a sparse
        # area does not walk the whole index); the geodesic test is exact.
        parts.append("ST_DWithin(ns.public_geom, (SELECT pt FROM q), :radius_deg)")
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


def _params(filters: NearbyFilters, verified_since: date, lat: float | None = None) -> dict[str, Any]:
    radius_m = filters.radius_km * 1000 if filters.radius_km is not None else None
    return {
        "category": filters.category,
        "category_prefix": f"{filters.category}.%" if filters.category else None,
        "population": filters.population,
        "language": filters.language,
        "radius_m": radius_m,
        "radius_deg": planar_reach_degrees(lat, radius_m) if radius_m is not None and lat is not None else None,
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

    One round trip: planar KNN on the GiST index (``<->``, index-ordered) takes
    ``CANDIDATE_FACTOR`` x ``limit`` candidates, which are ranked by spheroidal
    ``ST_Distance``.  The database then proves the candidates hold every true result
    (see :func:`planar_reach_degrees`); in the rare case it cannot, the same statement
    ranks every service inside the proven planar radius instead.  Ties break by id.
    """
    result = _run_nearest(session, lat, lon, filters, limit, hide_after_days, as_json=False)
    return [dict(r) for r in result.mappings()]


def nearest_services_json(
    session: Session,
    lat: float,
    lon: float,
    filters: NearbyFilters = NearbyFilters(),
    limit: int = 20,
    *,
    hide_after_days: int = 365,
) -> str:
    """The nearby API's response body, ``{"results": [...]}``, built by PostgreSQL.

    The same ranking as :func:`nearest_services`; each result is :func:`service_json`'s
    shape, the document stored on its ``nearby_search`` row (migration 0010) with the
    distance written in, so that the hot path neither joins the directory nor builds or
    encodes JSON (tests hold the two shapes equal).
    """
    return _run_nearest(session, lat, lon, filters, limit, hide_after_days, as_json=True).scalar_one()


def _run_nearest(session, lat, lon, filters, limit, hide_after_days, *, as_json):
    """Execute :func:`nearest_services_sql` with the category's key known."""
    key = category_key(session, filters.category) if filters.category else None
    sql, params = nearest_services_sql(
        lat, lon, filters, limit, hide_after_days=hide_after_days, as_json=as_json, category_key=key
    )
    return session.execute(_text(sql), params)


# WGS84: equatorial radius and the smallest meridional radius of curvature a(1 - e²), in m.
WGS84_A = 6378137.0
WGS84_MERIDIAN_MIN = 6335439.327
# Rounding headroom for the bound (spheroidal ST_Distance is exact to the nanometre).
REACH_SAFETY = 1.0001


def planar_reach_degrees(lat: float, meters: float) -> float:
    """The planar distance, in degrees of (lat, lon), within which lies every point that
    is at most ``meters`` (geodesic, WGS84) from a point at latitude ``lat``.

    On the ellipsoid ds² = M² dφ² + (N cos φ)² dλ², with M ≥ a(1 - e²) and N ≥ a; a path
    of length ≤ d from the query never leaves the band |φ| ≤ |lat| + d / a(1 - e²), where
    cos φ is smallest at the band's edge.  So ds ≥ c·|d(φ, λ)| with
    c = min(a(1 - e²), a·cos φ_edge), and planar distance ≤ d / c (radians).  Mirrored
    in SQL by :func:`_planar_reach_sql`; past the poles' band it answers the whole globe.
    """
    band = abs(lat) + math.degrees(meters / WGS84_MERIDIAN_MIN)
    if band >= 89.0:
        return 360.0
    scale = min(WGS84_MERIDIAN_MIN, WGS84_A * math.cos(math.radians(band)))
    return math.degrees(meters * REACH_SAFETY / scale)


def _planar_reach_sql(lat: str, meters: str) -> str:
    """SQL twin of :func:`planar_reach_degrees` over two SQL expressions."""
    band = f"(abs({lat}) + degrees(({meters}) / {WGS84_MERIDIAN_MIN}))"
    return (
        f"CASE WHEN {band} >= 89.0 THEN 360.0 ELSE degrees(({meters}) * {REACH_SAFETY} / "
        f"LEAST({WGS84_MERIDIAN_MIN}, {WGS84_A} * cos(radians({band})))) END"
    )


def nearest_services_sql(
    lat: float,
    lon: float,
    filters: NearbyFilters = NearbyFilters(),
    limit: int = 20,
    *,
    hide_after_days: int = 365,
    candidate_factor: int = CANDIDATE_FACTOR,
    as_json: bool = False,
    category_key: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """The SQL text and parameters of :func:`nearest_services` (the benchmark EXPLAINs it).

    ``cand`` reads ``nearby_search`` (one row per public service-at-location, kept by
    triggers) through the planar GiST index that holds the category keys too, so a
    category filter stays inside the KNN scan.  With ``d_k`` the k-th smallest geodesic
    distance among the candidates, every true result lies within the planar reach ``r``
    of ``d_k``; when the KNN scan ran out of rows or its last candidate is farther than
    ``r``, no row outside the candidates can beat them.  Otherwise (many services at one
    spot, or a skewed neighbourhood) the second branch of ``hits`` ranks every row within
    ``r``: a one-time filter, so the planner skips that branch when the proof holds.  Only the ``limit``
    winners are joined to the directory tables, which re-check the public conditions.
    With ``as_json`` the statement returns the API's whole response body instead of rows,
    from the winners' stored documents (no join); ``category_key`` is
    :func:`category_key` of the category filter, when known.
    """
    since = verified_since(hide_after_days)
    n_candidates = int(limit) * int(candidate_factor)
    sql = _nearest_statement(filters.shape, category_key, int(limit), n_candidates, as_json, since)
    params = _params(filters, since, lat)
    params.update(lat=lat, lon=lon)
    return sql, params


@functools.lru_cache(maxsize=512)
def _nearest_statement(
    shape: FilterShape, category_key: int | None, limit: int, n_candidates: int, as_json: bool, since: date
) -> str:
    """The text of :func:`nearest_services_sql`, built once per filter shape and day.

    The counts, the verification cut-off (a date) and the category key are written into
    the text, not bound: a cached generic plan then costs what a custom plan does, so
    PostgreSQL's plan cache settles on it and skips planning on every call (about 1 ms
    of a 2 ms query).  Only the point and the population/language/radius stay bound.
    """
    cutoff = f"DATE '{since.isoformat()}'"
    where = _search_filter_sql(shape, category_key).replace(":verified_since", cutoff)
    docs = ", ns.doc_head, ns.doc_tail" if as_json else ""
    return f"""
    WITH q AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS pt),
    cand AS MATERIALIZED (
      SELECT ns.sal_id, ns.service_id{docs},
             ns.public_geom <-> (SELECT pt FROM q) AS planar,
             ST_Distance(ns.public_geom::geography, (SELECT pt FROM q)::geography) AS d
        FROM nearby_search ns
       WHERE {where}
       ORDER BY ns.public_geom <-> (SELECT pt FROM q)
       LIMIT {n_candidates}
    ),
    kth AS (
      SELECT count(*) AS n, max(planar) AS planar_last,
             (SELECT d FROM cand ORDER BY d LIMIT 1 OFFSET {limit - 1}) AS d_k
        FROM cand
    ),
    proof AS (
      SELECT n < {n_candidates} OR planar_last > reach AS complete, reach
        FROM (SELECT n, planar_last, {_planar_reach_sql(":lat", "d_k")} AS reach FROM kth) s
    ),
    hits AS (
      SELECT sal_id, service_id{docs.replace("ns.", "")}, d FROM cand
       WHERE (SELECT complete FROM proof)
      UNION ALL
      SELECT ns.sal_id, ns.service_id{docs},
             ST_Distance(ns.public_geom::geography, (SELECT pt FROM q)::geography) AS d
        FROM nearby_search ns
       WHERE NOT (SELECT complete FROM proof)
         AND {where}
         AND ST_DWithin(ns.public_geom, (SELECT pt FROM q), (SELECT reach FROM proof))
    ),
    top AS (SELECT * FROM hits ORDER BY d, service_id LIMIT {limit})
    {_nearest_select(as_json, cutoff)}
    """


def _nearest_select(as_json: bool, cutoff: str) -> str:
    """The last part of :func:`_nearest_statement`, over the ranked ``top``: the response body
    from the rows' stored documents (``nearby_search.doc_head`` and ``doc_tail``, migration
    0010, with the distance between them), or the directory's columns for Python callers."""
    if as_json:
        # What json_build_object('results', json_agg(...)) wrote, byte for byte.
        return """
    SELECT '{"results" : [' || coalesce(string_agg(
             top.doc_head || (round(top.d) / 1000.0::float8)::text || top.doc_tail, ', '
             ORDER BY top.d, top.service_id), '') || ']}' AS body
      FROM top"""
    return f"""
    SELECT {PUBLIC_COLUMNS}, top.d / 1000.0 AS distance_km
      FROM top
      JOIN service_at_location sal ON sal.id = top.sal_id
      JOIN service s ON s.id = sal.service_id
      JOIN organization o ON o.id = s.organization_id
      JOIN location l ON l.id = sal.location_id
     WHERE {PUBLIC_WHERE.replace(":verified_since", cutoff)}
     ORDER BY top.d, s.id"""


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
