"""Server-side clustering of public services for a country-wide map (SQLAlchemy Core).

Points in the box are snapped to a grid whose cell is about 48 screen pixels at the map's
zoom (the cells ``ST_SnapToGrid`` would give, grouped by their integer indices — three times
faster than grouping the snapped geometries — on ``nearby_search.public_geom``, filtered
by the box); each
cell gives its count and mean position, and a cell holding one service gives its id and
name so the map can link it.  When a box still yields more than ``max_clusters`` cells
the grid doubles until it does not, so a response never carries more than about 2,000
points however many services there are.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from mapservice.queries.services import verified_since

TILE_PIXELS = 256
CELL_PIXELS = 48
MAX_CLUSTERS = 2000


@dataclass(frozen=True)
class ClusterResult:
    """The clusters of one box, and the grid they were made on."""

    clusters: list[dict[str, Any]]
    total: int
    cell_degrees: float


def cell_size(zoom: int) -> float:
    """Grid cell in degrees for a Web Mercator zoom level (about ``CELL_PIXELS`` wide)."""
    return 360.0 / (2**zoom) / TILE_PIXELS * CELL_PIXELS


def clusters_in_box(
    session: Session,
    bbox: tuple[float, float, float, float],
    zoom: int,
    *,
    category: str | None = None,
    hide_after_days: int = 365,
    max_clusters: int = MAX_CLUSTERS,
    today: date | None = None,
) -> ClusterResult:
    """Clusters of the public services inside ``bbox`` (min lon, min lat, max lon, max lat)."""
    minx, miny, maxx, maxy = bbox
    # Never finer than the box can hold in max_clusters cells (a zoom-18 grid over a whole
    # country would otherwise take a dozen doublings), then as fine as the zoom asks.
    cell = max(cell_size(zoom), ((maxx - minx) * (maxy - miny) / max_clusters) ** 0.5 * 1.5)
    category_sql = "AND ns.category_keys @> ARRAY[hashtext(CAST(:category AS text))]" if category else ""
    sql = text(
        f"""
        SELECT count(*) AS n, avg(ST_Y(ns.public_geom)) AS lat, avg(ST_X(ns.public_geom)) AS lon,
               min(ns.service_id) AS first_id, max(ns.service_id) AS last_id,
               sum(count(*)) OVER () AS total
          FROM nearby_search ns
         WHERE ns.public_geom && ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326)
           AND (ns.last_verified IS NULL OR ns.last_verified >= :verified_since)
           {category_sql}
         GROUP BY round(ST_X(ns.public_geom) / :cell), round(ST_Y(ns.public_geom) / :cell)
         LIMIT :cap
        """
    )
    params = {
        "minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy, "category": category,
        "verified_since": verified_since(hide_after_days, today),
    }  # fmt: skip
    for _ in range(32):
        rows = session.execute(sql, {**params, "cell": cell, "cap": max_clusters + 1}).all()
        if len(rows) <= max_clusters:
            break
        cell *= 2
    single_ids = [r.first_id for r in rows if r.n == 1]
    names = {}
    if single_ids:
        names = dict(
            session.execute(text("SELECT id, name FROM service WHERE id = ANY(:ids)"), {"ids": single_ids}).all()
        )
    clusters = []
    for r in rows:
        item: dict[str, Any] = {"lat": round(float(r.lat), 5), "lon": round(float(r.lon), 5), "count": int(r.n)}
        if r.n == 1:
            item.update(id=r.first_id, name=names.get(r.first_id))
        clusters.append(item)
    total = int(rows[0].total) if rows else 0
    return ClusterResult(clusters=clusters, total=total, cell_degrees=cell)
