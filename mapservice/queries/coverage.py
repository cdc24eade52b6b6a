"""Coverage read queries for National Technical Teams (SQLAlchemy Core, one round trip each).

Only public listings count (the visibility rule of ``PUBLIC_WHERE``), and only their public
point: a service counts in the admin-1 area whose polygon covers ``location.public_geom``
(``ST_Covers``; on a border shared by two areas, the smaller code), and distances are
measured to that point.  So a confidential service is counted and mapped exactly where
every public page shows it, and no aggregate or distance reveals anything about its
private point.  The covering area is kept in ``location.public_area_code`` by a trigger
(migration ``public_area``), which makes counting an indexed GROUP BY.  ``location.admin_area_code``
is not used: it follows the private point and, for shore points, the nearest area.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from mapservice.queries.services import PUBLIC_JOINS, PUBLIC_WHERE, verified_since

CATEGORY_MATCH = """
    s.categories && ARRAY(SELECT c.code FROM category c
                           WHERE c.code = :category OR c.code LIKE :category_prefix)::varchar[]
"""


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
            "category_prefix": f"{self.category}.%" if self.category else None,
            "verified_since": verified_since(self.hide_after_days),
        }

    def where(self) -> str:
        """The SQL condition selecting the public services in scope (aliases s, o, l)."""
        parts = [PUBLIC_WHERE]
        if self.category:
            parts.append(CATEGORY_MATCH)
        return " AND ".join(f"({p.strip()})" for p in parts)


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
    WITH areas AS (
      SELECT a.code, a.name FROM admin_area a WHERE a.country_code = :country
    ),
    hits AS (
      SELECT a.code, count(DISTINCT s.id) AS services
        FROM areas a
        JOIN location l ON l.public_area_code = a.code
        JOIN service_at_location sal ON sal.location_id = l.id
        JOIN service s ON s.id = sal.service_id
        JOIN organization o ON o.id = s.organization_id
       WHERE {scope.where()}
       GROUP BY a.code
    ),
    people AS (
      SELECT p.admin_area_code AS code, sum(p.population)::bigint AS population
        FROM place p WHERE p.country_code = :country GROUP BY p.admin_area_code
    )
    SELECT a.code, a.name, coalesce(h.services, 0) AS services, coalesce(pp.population, 0) AS population
      FROM areas a
      LEFT JOIN hits h ON h.code = a.code
      LEFT JOIN people pp ON pp.code = a.code
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
    service are collected once.  A town that shares a cell of a grid of ``beyond_km / 224``
    degrees with one of them is certainly served and skipped (a hash anti-join); so is one
    with a matching location within ``beyond_km`` (geodesic) in the 8 neighbouring cells (a
    hash join on cell keys).  For every other town, a lateral KNN join walks the locations in planar distance order (GiST on
    ``public_geom``) to the first matching one; its geodesic distance bounds the true
    minimum, which an ``ST_DWithin`` over the geography index then finds exactly, only for
    towns that the first candidate leaves unserved.  ``nearest_km`` is ``None`` when the
    country has no matching service at all.  Largest population first.
    """
    # ``coalesce(l.id IN (...), false)`` rather than a bare IN: a bare IN would be pulled up
    # into a semi-join, losing the KNN index order; inside an expression it stays a hashed
    # subplan, built once for the whole query.
    sql = f"""
    WITH matching AS MATERIALIZED (
      SELECT l.id, l.public_geom FROM location l
       WHERE l.declared_country = :country
         AND EXISTS (SELECT 1 FROM service_at_location sal
                       JOIN service s ON s.id = sal.service_id
                       JOIN organization o ON o.id = s.organization_id
                      WHERE sal.location_id = l.id AND {scope.where()})
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
         WHERE coalesce(l.id IN (SELECT id FROM matching), false)
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


# Each category code of the vocabulary mapped to the requested columns it counts in (itself and
# its ancestors among ``:codes``): a tiny table, hash-joined to the services' unnested codes.
CODE_COLUMNS = """
    cols AS (
      SELECT c.code AS leaf, k.code AS col
        FROM category c JOIN unnest(CAST(:codes AS text[])) AS k(code)
          ON c.code = k.code OR c.code LIKE k.code || '.%'
    )
"""


def category_area_matrix(session: Session, scope: CoverageScope, codes: list[str]) -> dict[tuple[str, str], int]:
    """Public services per (area code, category code) for ``codes``; a code counts its children.

    ``scope.category`` is ignored here: the matrix is the category breakdown itself.
    Missing keys mean zero.
    """
    plain = CoverageScope(scope.country, None, scope.hide_after_days)
    sql = f"""
    WITH {CODE_COLUMNS},
    pts AS (
      SELECT DISTINCT a.code AS area, s.id, x.code AS leaf
        FROM admin_area a
        JOIN location l ON l.public_area_code = a.code
        JOIN service_at_location sal ON sal.location_id = l.id
        JOIN service s ON s.id = sal.service_id
        JOIN organization o ON o.id = s.organization_id
        CROSS JOIN LATERAL unnest(s.categories) AS x(code)
       WHERE a.country_code = :country AND {plain.where()}
    )
    SELECT pts.area, cols.col AS code, count(DISTINCT pts.id) AS n
      FROM pts JOIN cols ON cols.leaf = pts.leaf
     GROUP BY pts.area, cols.col
    """
    params = plain.params() | {"codes": codes}
    return {(r.area, r.code): r.n for r in session.execute(text(sql), params)}


def service_points(session: Session, scope: CoverageScope, limit: int = 5000) -> tuple[list[tuple[float, float, int]], int]:
    """Public points ``(lat, lon, service id)`` in scope inside the country's areas, and their total.

    At most ``limit`` points are returned (the map stays light); the total tells how many
    there are.
    """
    sql = f"""
    WITH pts AS (
      SELECT DISTINCT ON (l.id, s.id) ST_Y(l.public_geom) AS lat, ST_X(l.public_geom) AS lon, s.id
        FROM admin_area a
        JOIN location l ON l.public_area_code = a.code
        JOIN service_at_location sal ON sal.location_id = l.id
        JOIN service s ON s.id = sal.service_id
        JOIN organization o ON o.id = s.organization_id
       WHERE a.country_code = :country AND {scope.where()}
    )
    SELECT lat, lon, id, count(*) OVER () AS total FROM pts ORDER BY id LIMIT :limit
    """
    rows = session.execute(text(sql), scope.params() | {"limit": limit}).all()
    return [(r.lat, r.lon, r.id) for r in rows], (rows[0].total if rows else 0)


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
    SELECT o.id AS organization_id, o.name AS organization, a.code AS area_code, a.name AS area,
           count(DISTINCT s.id) AS listings,
           count(DISTINCT s.id) FILTER (WHERE s.last_verified IS NULL OR s.last_verified < :warn_since) AS stale,
           min(s.last_verified) AS oldest
      FROM admin_area a
      JOIN location l ON l.public_area_code = a.code
      JOIN service_at_location sal ON sal.location_id = l.id
      JOIN service s ON s.id = sal.service_id
      JOIN organization o ON o.id = s.organization_id
     WHERE a.country_code = :country AND s.status = 'active' AND s.deleted_at IS NULL
       AND o.status = 'approved'
     GROUP BY o.id, o.name, a.code, a.name
    HAVING count(DISTINCT s.id) FILTER (WHERE s.last_verified IS NULL OR s.last_verified < :warn_since) > 0
     ORDER BY stale DESC, o.name, a.code
     LIMIT :limit
    """
    warn_since = (today or date.today()) - timedelta(days=warn_after_days)
    params = {"country": country, "warn_since": warn_since, "limit": limit}
    return [dict(r) for r in session.execute(text(sql), params).mappings()]


def freshness_totals(session: Session, country: str, warn_after_days: int, today: date | None = None) -> dict[str, int]:
    """``{"listings", "stale"}``: active listings of approved organizations in the country's areas."""
    sql = """
    SELECT count(DISTINCT s.id) AS listings,
           count(DISTINCT s.id) FILTER (WHERE s.last_verified IS NULL OR s.last_verified < :warn_since) AS stale
      FROM admin_area a
      JOIN location l ON l.public_area_code = a.code
      JOIN service_at_location sal ON sal.location_id = l.id
      JOIN service s ON s.id = sal.service_id
      JOIN organization o ON o.id = s.organization_id
     WHERE a.country_code = :country AND s.status = 'active' AND s.deleted_at IS NULL
       AND o.status = 'approved'
    """
    warn_since = (today or date.today()) - timedelta(days=warn_after_days)
    return dict(session.execute(text(sql), {"country": country, "warn_since": warn_since}).mappings().one())


def country_summaries(
    session: Session, hide_after_days: int, codes: list[str], country: str | None = None
) -> list[dict[str, Any]]:
    """For each country (or just ``country``): public services per category code (children
    included), areas, and areas without any public service.

    Rows are ``{"country", "name_en", "name_es", "areas", "empty_areas", "by_category": {code: n}, "total"}``.
    """
    sql = f"""
    WITH {CODE_COLUMNS},
    pts AS (
      SELECT DISTINCT a.country_code, a.code AS area, s.id, s.categories
        FROM admin_area a
        JOIN location l ON l.public_area_code = a.code
        JOIN service_at_location sal ON sal.location_id = l.id
        JOIN service s ON s.id = sal.service_id
        JOIN organization o ON o.id = s.organization_id
       WHERE {PUBLIC_WHERE} AND (CAST(:country AS text) IS NULL OR a.country_code = :country)
    ),
    per_cat AS (
      SELECT p.country_code, cols.col AS code, count(DISTINCT p.id) AS n
        FROM pts p CROSS JOIN LATERAL unnest(p.categories) AS x(code)
        JOIN cols ON cols.leaf = x.code
       GROUP BY p.country_code, cols.col
    ),
    totals AS (
      SELECT country_code, count(DISTINCT id) AS total, count(DISTINCT area) AS served_areas
        FROM pts GROUP BY country_code
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
