"""Coverage read queries for National Technical Teams (SQLAlchemy Core, one round trip each).

Only public listings count (the visibility rule of ``PUBLIC_WHERE``), and only their public
point: a service counts in the admin-1 area whose polygon covers ``location.public_area_code``
(``ST_Covers``; on a border shared by two areas, the smaller code, migration 0005), and
distances are measured to that point.  So a confidential service is counted and mapped
exactly where every public page shows it, and no aggregate or distance reveals anything
about its private point.  ``location.admin_area_code`` is not used: it follows the private
point and, for shore points, the nearest area.

Counts read the rollups of migration 0007 (``coverage_count``, ``coverage_freshness``:
distinct services per area, category key and verification date, kept by triggers), so no
request groups the services themselves: the rows read per request do not grow with the
number of services.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from mapservice.queries.services import verified_since

# A rollup row (alias r) of listings public today; never verified is '-infinity' there.
ROLLUP_PUBLIC = "(r.last_verified = '-infinity' OR r.last_verified >= :verified_since)"
# The rollups' key of a category code (its own and its children's services), 0 for any.
CATEGORY_KEY = "coalesce(hashtext(CAST(:category AS text)), 0)"


@dataclass(frozen=True)
class CoverageScope:
    """What a coverage question is about: a country, optionally one category (and its children)."""

    country: str
    category: str | None = None
    hide_after_days: int = 365

    def params(self) -> dict[str, Any]:
        """Bind parameters shared by every coverage query."""
        return {
            "country": self.country,
            "category": self.category,
            "verified_since": verified_since(self.hide_after_days),
        }

    def search_where(self, country_column: str = "ns.declared_country") -> str:
        """The condition on ``nearby_search ns`` selecting the public services in scope:
        ``country_column`` is the country's, public today, of the category (an index
        condition of ``nearby_search``'s GiST indexes)."""
        parts = [
            f"{country_column} = :country",
            "ns.last_verified IS NULL OR ns.last_verified >= :verified_since",
        ]
        if self.category:
            parts.append("ns.category_keys @> ARRAY[hashtext(CAST(:category AS text))]")
        return " AND ".join(f"({p})" for p in parts)


def country_exists(session: Session, code: str) -> bool:
    """True when ``code`` is one of the seeded countries."""
    return session.execute(text("SELECT 1 FROM country WHERE code = :c"), {"c": code}).first() is not None


def area_counts(session: Session, scope: CoverageScope) -> list[dict[str, Any]]:
    """Every admin-1 area of the country with its number of public services in scope.

    Each row: ``code``, ``name``, ``services`` (distinct services with a location whose
    public point the area's polygon covers), ``population`` (sum of the gazetteer towns of
    the area: an estimate, towns of 1,000+ people only) and ``per_100k``.
    """
    sql = f"""
    WITH hits AS (
      SELECT r.area_code AS code, sum(r.services)::int AS services
        FROM coverage_count r
       WHERE r.country_code = :country AND r.category_key = {CATEGORY_KEY} AND r.area_code <> ''
         AND {ROLLUP_PUBLIC}
       GROUP BY r.area_code
    ),
    people AS (
      SELECT p.admin_area_code AS code, sum(p.population)::bigint AS population
        FROM place p WHERE p.country_code = :country GROUP BY p.admin_area_code
    )
    SELECT a.code, a.name, coalesce(h.services, 0) AS services, coalesce(pp.population, 0) AS population
      FROM admin_area a
      LEFT JOIN hits h ON h.code = a.code
      LEFT JOIN people pp ON pp.code = a.code
     WHERE a.country_code = :country
     ORDER BY a.code
    """
    rows = [dict(r) for r in session.execute(text(sql), scope.params()).mappings()]
    for row in rows:
        row["per_100k"] = (
            round(row["services"] * 100_000 / row["population"], 2) if row["population"] else None
        )
    return rows


# Two points in the same cell of a grid of ``s`` degrees are at most ``s`` degrees of
# latitude (<= 111.7 km each) plus ``s`` degrees of longitude (<= 111.33 km each) apart.
KM_PER_CELL_DEGREE_BOUND = 224.0


def unserved_places(session: Session, scope: CoverageScope, beyond_km: float) -> list[dict[str, Any]]:
    """Gazetteer towns of the country whose nearest public service in scope is beyond ``beyond_km``.

    Services of the same country (declared) count.  The locations with a matching public
    service are collected once from ``nearby_search`` (a GIN index on its category keys).
    A town that shares a cell of a grid of ``beyond_km / 224`` degrees with one of them is
    certainly served and skipped (a hash anti-join); so is one with a matching location
    within ``beyond_km`` (geodesic) in the 8 neighbouring cells (a hash join on cell keys).
    For every other town, a lateral KNN join walks the locations in planar distance order
    (GiST on ``public_geom``) to the first matching one; its geodesic distance bounds the
    true minimum, which an ``ST_DWithin`` over the geography index then finds exactly, only
    for towns that the first candidate leaves unserved.  ``nearest_km`` is ``None`` when the
    country has no matching service at all.  Largest population first.
    """
    # ``coalesce(l.id IN (...), false)`` rather than a bare IN: a bare IN would be pulled up
    # into a semi-join, losing the KNN index order; inside an expression it stays a hashed
    # subplan, built once for the whole query.
    sql = f"""
    WITH matching AS MATERIALIZED (
      SELECT sal.location_id AS id, ns.public_geom
        FROM nearby_search ns JOIN service_at_location sal ON sal.id = ns.sal_id
       WHERE {scope.search_where()}
    ),
    cells AS MATERIALIZED (
      SELECT floor(ST_X(public_geom) / :cell)::int AS cx, floor(ST_Y(public_geom) / :cell)::int AS cy, public_geom
        FROM matching
    ),
    candidates AS MATERIALIZED (
      SELECT p.*, floor(ST_X(p.geom) / :cell)::int AS cx, floor(ST_Y(p.geom) / :cell)::int AS cy
        FROM place p
       WHERE p.country_code = :country
         AND NOT EXISTS (SELECT 1 FROM cells c
                          WHERE c.cx = floor(ST_X(p.geom) / :cell)::int AND c.cy = floor(ST_Y(p.geom) / :cell)::int)
    ),
    served_nearby AS MATERIALIZED (
      SELECT DISTINCT t.id FROM candidates t
       CROSS JOIN generate_series(-1, 1) AS dx CROSS JOIN generate_series(-1, 1) AS dy
        JOIN cells c ON c.cx = t.cx + dx AND c.cy = t.cy + dy
       WHERE ST_DWithin(c.public_geom::geography, t.geom::geography, :beyond_m)
    ),
    towns AS MATERIALIZED (
      SELECT * FROM candidates WHERE coalesce(id NOT IN (SELECT id FROM served_nearby), true)
    )
    SELECT p.name, ST_Y(p.geom) AS lat, ST_X(p.geom) AS lon, p.population,
           p.admin_area_code, exact.d / 1000.0 AS nearest_km
      FROM towns p
      LEFT JOIN LATERAL (
        SELECT ST_Distance(l.public_geom::geography, p.geom::geography) AS d
          FROM location l
         WHERE EXISTS (SELECT 1 FROM matching)  -- else the walk would read the whole index
           AND coalesce(l.id IN (SELECT id FROM matching), false)
         ORDER BY l.public_geom <-> p.geom
         LIMIT 1
      ) first ON true
      LEFT JOIN LATERAL (
        SELECT min(ST_Distance(l.public_geom::geography, p.geom::geography)) AS d
          FROM location l
         WHERE first.d > :beyond_m
           AND ST_DWithin(l.public_geom::geography, p.geom::geography, first.d + 0.01)
           AND coalesce(l.id IN (SELECT id FROM matching), false)
      ) exact ON true
     WHERE first.d IS NULL OR exact.d > :beyond_m
     ORDER BY p.population DESC, p.name, p.id
    """
    params = scope.params() | {"beyond_m": beyond_km * 1000.0, "cell": beyond_km / KM_PER_CELL_DEGREE_BOUND}
    return [dict(r) for r in session.execute(text(sql), params).mappings()]


def category_area_matrix(session: Session, scope: CoverageScope, codes: list[str]) -> dict[tuple[str, str], int]:
    """Public services per (area code, category code) for ``codes``; a code counts its children.

    ``scope.category`` is ignored here: the matrix is the category breakdown itself.
    Missing keys mean zero.
    """
    sql = f"""
    SELECT r.area_code AS area, k.code, sum(r.services)::int AS n
      FROM unnest(CAST(:codes AS text[])) AS k(code)
      JOIN coverage_count r ON r.category_key = hashtext(k.code)
     WHERE r.country_code = :country AND r.area_code <> '' AND {ROLLUP_PUBLIC}
     GROUP BY r.area_code, k.code
    """
    params = scope.params() | {"codes": codes}
    return {(r.area, r.code): r.n for r in session.execute(text(sql), params)}


def service_points(
    session: Session, scope: CoverageScope, limit: int = 5000
) -> tuple[list[tuple[float, float, int]], int]:
    """Public points ``(lat, lon, service id)`` in scope inside the country's areas, by
    service id, at most ``limit`` (the map stays light), and how many services there are
    in all (from the rollup)."""
    sql = f"""
    SELECT ST_Y(ns.public_geom) AS lat, ST_X(ns.public_geom) AS lon, ns.service_id AS id,
           (SELECT sum(r.services) FROM coverage_count r
             WHERE r.country_code = :country AND r.category_key = {CATEGORY_KEY} AND r.area_code = ''
               AND {ROLLUP_PUBLIC}) AS total
      FROM nearby_search ns JOIN admin_area a ON a.code = ns.public_area_code
     WHERE {scope.search_where(country_column="a.country_code")}
     ORDER BY ns.service_id, ns.sal_id
     LIMIT :limit
    """
    rows = session.execute(text(sql), scope.params() | {"limit": limit}).all()
    return [(r.lat, r.lon, r.id) for r in rows], (int(rows[0].total) if rows else 0)


def freshness(
    session: Session, country: str, warn_after_days: int, today: date | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Per organization and area with stale listings: its active listings and how many are stale.

    Counts every active, undeleted listing of an approved organization whose public point
    lies in one of the country's areas; ``stale`` are those never verified or verified more
    than ``warn_after_days`` ago.  Only pairs with at least one stale listing, most stale
    first, at most ``limit``.
    """
    sql = """
    WITH stale AS (
      SELECT r.organization_id, r.area_code, sum(r.listings)::int AS stale
        FROM coverage_freshness r
       WHERE r.country_code = :country AND r.last_verified < :warn_since
       GROUP BY r.organization_id, r.area_code
    )
    SELECT o.id AS organization_id, o.name AS organization, a.code AS area_code, a.name AS area,
           pair.listings, st.stale, pair.oldest
      FROM stale st
      JOIN organization o ON o.id = st.organization_id
      JOIN admin_area a ON a.code = st.area_code
      CROSS JOIN LATERAL (
        SELECT sum(r.listings)::int AS listings,
               min(r.last_verified) FILTER (WHERE r.last_verified > '-infinity') AS oldest
          FROM coverage_freshness r
         WHERE r.country_code = :country AND r.area_code = st.area_code AND r.organization_id = st.organization_id
      ) pair
     ORDER BY st.stale DESC, o.name, a.code
     LIMIT :limit
    """
    params = {"country": country, "warn_since": _warn_since(warn_after_days, today), "limit": limit}
    return [dict(r) for r in session.execute(text(sql), params).mappings()]


def _warn_since(warn_after_days: int, today: date | None) -> date:
    return (today or date.today()) - timedelta(days=warn_after_days)


def freshness_totals(session: Session, country: str, warn_after_days: int, today: date | None = None) -> dict[str, int]:
    """``{"listings", "stale"}``: active listings of approved organizations in the country's areas."""
    sql = """
    SELECT coalesce(sum(r.services), 0)::int AS listings,
           coalesce(sum(r.services) FILTER (WHERE r.last_verified < :warn_since), 0)::int AS stale
      FROM coverage_count r
     WHERE r.country_code = :country AND r.category_key = 0 AND r.area_code = ''
    """
    params = {"country": country, "warn_since": _warn_since(warn_after_days, today)}
    return dict(session.execute(text(sql), params).mappings().one())


def country_summaries(
    session: Session, hide_after_days: int, codes: list[str], country: str | None = None
) -> list[dict[str, Any]]:
    """For each country (or just ``country``): public services per category code (children
    included), areas, and areas without any public service.

    Rows are ``{"country", "name_en", "name_es", "areas", "empty_areas", "by_category": {code: n}, "total"}``.
    """
    sql = f"""
    WITH per_cat AS (
      SELECT r.country_code, k.code, sum(r.services)::int AS n
        FROM unnest(CAST(:codes AS text[])) AS k(code)
        JOIN coverage_count r ON r.category_key = hashtext(k.code)
       WHERE r.area_code = '' AND {ROLLUP_PUBLIC}
         AND (CAST(:country AS text) IS NULL OR r.country_code = :country)
       GROUP BY r.country_code, k.code
    ),
    totals AS (
      SELECT r.country_code, sum(r.services) FILTER (WHERE r.area_code = '')::int AS total,
             count(DISTINCT r.area_code) FILTER (WHERE r.area_code <> '') AS served_areas
        FROM coverage_count r
       WHERE r.category_key = 0 AND {ROLLUP_PUBLIC}
         AND (CAST(:country AS text) IS NULL OR r.country_code = :country)
       GROUP BY r.country_code
    )
    SELECT c.code AS country, c.name_en, c.name_es,
           (SELECT count(*) FROM admin_area a WHERE a.country_code = c.code) AS areas,
           coalesce(t.served_areas, 0) AS served_areas, coalesce(t.total, 0) AS total,
           coalesce((SELECT jsonb_object_agg(pc.code, pc.n) FROM per_cat pc
                      WHERE pc.country_code = c.code), '{{}}'::jsonb) AS by_category
      FROM country c LEFT JOIN totals t ON t.country_code = c.code
     WHERE CAST(:country AS text) IS NULL OR c.code = :country
     ORDER BY c.code
    """
    params = {"codes": codes, "country": country, "verified_since": verified_since(hide_after_days)}
    rows = [dict(r) for r in session.execute(text(sql), params).mappings()]
    for row in rows:
        row["empty_areas"] = row["areas"] - row["served_areas"]
    return rows


def area_shapes(session: Session, country: str, tolerance_deg: float = 0.005) -> list[dict[str, Any]]:
    """The country's admin-1 areas as simplified GeoJSON geometries (for maps), with a bounding box.

    Each row: ``code``, ``name``, ``geojson`` (a string, 4 decimals), and ``bbox`` of the
    whole country as ``(min_lon, min_lat, max_lon, max_lat)`` on every row.
    """
    sql = """
    SELECT a.code, a.name,
           ST_AsGeoJSON(ST_SimplifyPreserveTopology(a.geom, :tol), 4) AS geojson,
           ST_XMin(e.box) AS min_lon, ST_YMin(e.box) AS min_lat, ST_XMax(e.box) AS max_lon, ST_YMax(e.box) AS max_lat
      FROM admin_area a
      CROSS JOIN (SELECT ST_Extent(geom)::geometry AS box FROM admin_area WHERE country_code = :country) e
     WHERE a.country_code = :country
     ORDER BY a.code
    """
    return [dict(r) for r in session.execute(text(sql), {"country": country, "tol": tolerance_deg}).mappings()]


def country_names(session: Session) -> dict[str, dict[str, str]]:
    """``{code: {"en": name, "es": name}}`` for the seeded countries."""
    rows = session.execute(text("SELECT code, name_en, name_es FROM country ORDER BY code")).all()
    return {r.code: {"en": r.name_en, "es": r.name_es} for r in rows}
