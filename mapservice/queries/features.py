"""Feature queries for OGC API – Features and GeoJSON: public services and admin areas in a
bounding box, a page at a time, with the number matched (one round trip each).

Services are the public view of :mod:`mapservice.queries.services` (``public_geom``, no
address for a confidential service), one feature per service at its first location (as
``public_service``), ordered by id so that pages are stable.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from mapservice.queries.services import (
    PUBLIC_COLUMNS,
    PUBLIC_JOINS,
    NearbyFilters,
    _filter_sql,
    _params,
    verified_since,
)

BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class Page:
    """One page of features and how many match in all."""

    rows: list[dict[str, Any]]
    matched: int


def _bbox_sql(column: str, bbox: BBox | None) -> str:
    """``column`` within the bbox (CRS84: min lon, min lat, max lon, max lat); a bbox whose
    min lon is larger than its max lon crosses the antimeridian."""
    if bbox is None:
        return "true"
    if bbox[0] <= bbox[2]:
        return f"ST_Intersects({column}, ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326))"
    return (
        f"(ST_Intersects({column}, ST_MakeEnvelope(:minx, :miny, 180, :maxy, 4326)) OR "
        f"ST_Intersects({column}, ST_MakeEnvelope(-180, :miny, :maxx, :maxy, 4326)))"
    )


def _bbox_params(bbox: BBox | None) -> dict[str, float | None]:
    minx, miny, maxx, maxy = bbox if bbox else (None, None, None, None)
    return {"minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy}


def _paged(
    session: Session, matching_sql: str, order: str, params: dict[str, Any], limit: int | None, offset: int
) -> Page:
    """Rows ``offset`` to ``offset + limit`` of the matching rows (all of them when ``limit``
    is ``None``) and the number matched."""
    sql = f"""
    WITH m AS ({matching_sql})
    SELECT (SELECT count(*) FROM m) AS number_matched, p.*
      FROM (SELECT 1) one
      LEFT JOIN LATERAL (SELECT * FROM m ORDER BY {order} LIMIT :limit OFFSET :offset) p ON true
    """
    rows = [dict(r) for r in session.execute(text(sql), {**params, "limit": limit, "offset": offset}).mappings()]
    matched = int(rows[0]["number_matched"]) if rows else 0
    return Page([r for r in rows if r.get(order) is not None], matched)


def service_features(
    session: Session,
    *,
    bbox: BBox | None = None,
    category: str | None = None,
    limit: int | None = 10,
    offset: int = 0,
    hide_after_days: int = 365,
) -> Page:
    """Public services whose public point lies in ``bbox`` (and under ``category``), by id."""
    filters = NearbyFilters(category=category)
    matching = f"""
      SELECT DISTINCT ON (s.id) {PUBLIC_COLUMNS}
        FROM {PUBLIC_JOINS}
       WHERE {_filter_sql(filters)} AND {_bbox_sql("l.public_geom", bbox)}
       ORDER BY s.id, sal.id
    """
    params = {**_params(filters, verified_since(hide_after_days)), **_bbox_params(bbox)}
    return _paged(session, matching, "id", params, limit, offset)


def public_services_extent(session: Session, *, hide_after_days: int = 365) -> BBox | None:
    """The bounding box of every public service's public point, or ``None`` when there is none."""
    row = session.execute(
        text(
            f"""
            SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (
              SELECT ST_Extent(l.public_geom) AS e FROM {PUBLIC_JOINS}
               WHERE {_filter_sql(NearbyFilters())}) x
            """
        ),
        {"verified_since": verified_since(hide_after_days)},
    ).one()
    return None if row[0] is None else (row[0], row[1], row[2], row[3])


ADMIN_AREA_COLUMNS = """
    a.code, a.name, a.country_code, c.name_en AS country_name,
    ST_AsGeoJSON(a.geom, 6) AS geometry
"""


def admin_area_features(
    session: Session, *, bbox: BBox | None = None, limit: int = 10, offset: int = 0
) -> Page:
    """First-level administrative areas intersecting ``bbox``, by code."""
    matching = f"""
      SELECT {ADMIN_AREA_COLUMNS} FROM admin_area a JOIN country c ON c.code = a.country_code
       WHERE {_bbox_sql("a.geom", bbox)}
    """
    return _paged(session, matching, "code", _bbox_params(bbox), limit, offset)


def admin_area_feature(session: Session, code: str) -> dict[str, Any] | None:
    """One administrative area by its ISO 3166-2 code, or ``None``."""
    row = session.execute(
        text(f"SELECT {ADMIN_AREA_COLUMNS} FROM admin_area a JOIN country c ON c.code = a.country_code "
             "WHERE a.code = :code"),  # fmt: skip
        {"code": code},
    ).mappings().first()
    return dict(row) if row else None


def admin_areas_extent(session: Session) -> BBox | None:
    """The bounding box of every administrative area."""
    row = session.execute(
        text("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) e FROM admin_area) x")
    ).one()
    return None if row[0] is None else (row[0], row[1], row[2], row[3])
