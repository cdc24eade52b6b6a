"""Gazetteer search: towns by name, accents and case ignored (unaccent + pg_trgm)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

PLACE_SQL = """
WITH q AS (SELECT f_unaccent(lower(:name)) AS name, f_unaccent(lower(:region)) AS region)
SELECT p.id, p.name, p.country_code AS country, a.name AS admin1, a.code AS admin1_code,
       ST_Y(p.geom) AS lat, ST_X(p.geom) AS lon, p.population, p.timezone,
       similarity(f_unaccent(lower(p.name)), q.name) AS score
  FROM place p CROSS JOIN q
  LEFT JOIN admin_area a ON a.code = p.admin_area_code
  LEFT JOIN country c ON c.code = p.country_code
 WHERE f_unaccent(lower(p.name)) % q.name
    OR f_unaccent(lower(p.name)) LIKE q.name || '%'
 ORDER BY (f_unaccent(lower(p.name)) = q.name) DESC,
          (q.region <> '' AND (f_unaccent(lower(coalesce(a.name, ''))) LIKE q.region || '%'
                               OR f_unaccent(lower(c.name_es)) LIKE q.region || '%'
                               OR f_unaccent(lower(c.name_en)) LIKE q.region || '%'
                               OR lower(p.country_code) = q.region)) DESC,
          (f_unaccent(lower(p.name)) LIKE q.name || '%') DESC,
          score DESC, p.population DESC, p.id
 LIMIT :limit
"""


def search_places(session: Session, query: str, limit: int = 10) -> list[dict[str, Any]]:
    """Towns matching ``query`` ("Tapachula", "san pedro sula", "Upala, Costa Rica"), best first.

    Text after a comma narrows by department/state or country.
    """
    name, _, region = query.partition(",")
    name = " ".join(name.split())
    if not name:
        return []
    rows = session.execute(
        text(PLACE_SQL), {"name": name, "region": " ".join(region.split()), "limit": limit}
    ).mappings()
    return [dict(r) for r in rows]


def place_json(row: dict[str, Any]) -> dict[str, Any]:
    """The contract's JSON shape of a gazetteer entry."""
    return {
        "name": row["name"],
        "country": row["country"],
        "admin1": row["admin1"],
        "lat": round(float(row["lat"]), 5),
        "lon": round(float(row["lon"]), 5),
        "population": row["population"],
    }


NEAREST_PLACE_SQL = """
SELECT p.name, p.country_code AS country, a.name AS admin1, ST_Y(p.geom) AS lat, ST_X(p.geom) AS lon,
       p.population, p.timezone,
       ST_Distance(p.geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography) / 1000.0
         AS distance_km
  FROM place p LEFT JOIN admin_area a ON a.code = p.admin_area_code
 ORDER BY p.geom <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)
 LIMIT 1
"""


def nearest_place(session: Session, lat: float, lon: float) -> dict[str, Any] | None:
    """The gazetteer town nearest to a point (to say "near Tapachula, Chiapas")."""
    row = session.execute(text(NEAREST_PLACE_SQL), {"lat": lat, "lon": lon}).mappings().first()
    return dict(row) if row else None
