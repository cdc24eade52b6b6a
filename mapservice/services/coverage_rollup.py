"""Counting the public directory into the coverage rollups in one pass.

The rollups (``coverage_count``: services per country, area, category key and verification
date; ``coverage_freshness``: listings per country, area, organization and date) are kept by
statement triggers on ``nearby_search`` (migration 0007).  A first load defers them
(migration 0011) and calls :func:`count_directory_into_rollups` once at its end.  The SQL is
the triggers' own delta, over every row of ``nearby_search`` instead of a statement's rows.
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

_DELTA = """
WITH delta AS MATERIALIZED (
  -- One unit per service and area, however many of its locations lie there.
  SELECT DISTINCT ns.service_id, ns.organization_id, a.country_code, a.code AS area_code,
         ns.category_keys, coalesce(ns.last_verified, '-infinity'::date) AS last_verified
    FROM nearby_search ns JOIN admin_area a ON a.code = ns.public_area_code
),
-- Services with the same categories counted together before their keys are unnested; the
-- whole-country row counts a service with locations in two areas once.
units AS (
  SELECT country_code, area_code, category_keys, last_verified, count(*) AS n
    FROM delta GROUP BY 1, 2, 3, 4
  UNION ALL
  SELECT country_code, '', category_keys, last_verified, count(*)
    FROM (SELECT DISTINCT service_id, country_code, category_keys, last_verified FROM delta) s
   GROUP BY 1, 2, 3, 4
),
counted AS (
  INSERT INTO coverage_count AS c (country_code, area_code, category_key, last_verified, services)
  SELECT u.country_code, u.area_code, k.key, u.last_verified, sum(u.n)
    FROM units u CROSS JOIN LATERAL unnest(u.category_keys || 0) AS k(key)
   GROUP BY 1, 2, 3, 4
   ORDER BY 1, 3, 2, 4
  ON CONFLICT (country_code, category_key, area_code, last_verified)
  DO UPDATE SET services = c.services + EXCLUDED.services
)
INSERT INTO coverage_freshness AS f (country_code, area_code, organization_id, last_verified, listings)
SELECT country_code, area_code, organization_id, last_verified, count(*)
  FROM delta GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
ON CONFLICT (country_code, area_code, organization_id, last_verified)
DO UPDATE SET listings = f.listings + EXCLUDED.listings
"""


def count_directory_into_rollups(session: Session) -> None:
    """Add every row of ``nearby_search`` to the rollups (which must not count them yet)."""
    session.execute(text(_DELTA))
