"""The outline basemap: the seven countries, their first-level areas and their largest towns.

Public maps draw this under their markers instead of fetching tiles from a third-party
server (which would learn the area each visitor looks at, and which a phone may not reach).
Built from the reference tables the directory already holds (Natural Earth boundaries,
the GeoNames gazetteer), simplified to about 1 km (the boundaries inside a country to about
2 km) and written with 3 decimals: 25 kB over the wire with brotli (37 kB with gzip), fetched
once and kept by the browser for a day.  Towns come largest first, as the map names them.
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

# Degrees: about 1 km, finer than a phone screen shows at the zoom where areas are named.
SIMPLIFY_DEGREES = 0.01
# Towns named on the map, with the zoom from which each is named (largest first).
TOWN_ZOOMS = ((500_000, 5), (100_000, 7), (50_000, 9))

BASEMAP_SQL = text(
    """
    WITH countries AS (
        SELECT code, ST_SimplifyPreserveTopology(geom, :tolerance) AS geom FROM country
    ), areas AS (
        -- The boundaries between first-level areas, each drawn once: shared edges merged
        -- before simplifying, the coast and the national borders (drawn by the countries)
        -- left out.
        SELECT ST_Simplify(ST_LineMerge(ST_Difference(
                   ST_Union(ST_Boundary(a.geom)),
                   (SELECT ST_Buffer(ST_Union(ST_Boundary(geom)), :tolerance) FROM country)
               )), 2 * :tolerance) AS geom
          FROM admin_area AS a
    ), towns AS (
        SELECT name, country_code, population, geom FROM place WHERE population >= :small
    )
    SELECT json_build_object(
        'type', 'FeatureCollection',
        'features', coalesce((
            SELECT json_agg(f ORDER BY kind, rank) FROM (
                SELECT 1 AS kind, 0 AS rank, json_build_object(
                    'type', 'Feature', 'geometry', ST_AsGeoJSON(geom, 3)::json,
                    'properties', json_build_object('kind', 'country', 'country', code)) AS f
                  FROM countries
                UNION ALL
                SELECT 2, 0, json_build_object(
                    'type', 'Feature', 'geometry', ST_AsGeoJSON(geom, 3)::json,
                    'properties', json_build_object('kind', 'areas'))
                  FROM areas WHERE geom IS NOT NULL
                UNION ALL
                SELECT 3, -population, json_build_object(
                    'type', 'Feature', 'geometry', ST_AsGeoJSON(geom, 3)::json,
                    'properties', json_build_object(
                        'kind', 'town', 'name', name, 'country', country_code,
                        'min_zoom', CASE WHEN population >= :large THEN :large_zoom
                                         WHEN population >= :middle THEN :middle_zoom
                                         ELSE :small_zoom END))
                  FROM towns
            ) AS parts
        ), '[]'::json)
    )::text
    """
)


def outline_basemap(session: Session) -> str:
    """The basemap as GeoJSON text: a ``country`` polygon per country, one ``areas``
    multi-line of every first-level boundary, and a ``town`` point (``name``,
    ``min_zoom``) per town of 50,000 people or more."""
    (large, large_zoom), (middle, middle_zoom), (small, small_zoom) = TOWN_ZOOMS
    params = {"large": large, "large_zoom": large_zoom, "middle": middle, "middle_zoom": middle_zoom}
    params |= {"small": small, "small_zoom": small_zoom, "tolerance": SIMPLIFY_DEGREES}
    return session.execute(BASEMAP_SQL, params).scalar_one()
