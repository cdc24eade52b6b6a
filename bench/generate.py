"""Generate N realistic listing rows spread over the seven countries' towns.

Towns come from the project's own gazetteer (the ``place`` table, GeoNames towns of 1,000+
people), drawn with probability proportional to population; each service lies a few km
from its town centre (farther in bigger towns).  Every row is a valid listing CSV row
(valid phones for the country, known codes, ``opening_hours`` syntax) so the project's
import path accepts the whole file.  Seeded: the same N gives the same rows.
"""
from __future__ import annotations

import csv
import io
import math
import random
from dataclasses import dataclass

import phonenumbers
import psycopg

from mapservice.services.listings import COLUMNS

# Points stay this far (degrees) inside the importer's 0.02° country tolerance.
COUNTRY_MARGIN_DEG = 0.015
HOURS = ["Mo-Fr 08:00-16:00", "Mo-Sa 09:00-17:00", "24/7", "Mo-Fr 07:30-15:30; Sa 08:00-12:00", ""]
EXTRA_LANGUAGES = ["en", "ht", "quc", "mam", "cab", "fr", "pt"]
EXTRA_LANGUAGE_WEIGHTS = [40, 10, 6, 6, 3, 4, 4]


@dataclass(frozen=True)
class Town:
    """A gazetteer town a service can be near."""

    name: str
    country: str
    lat: float
    lon: float
    population: int


def load_towns(conninfo: str) -> list[Town]:
    """Towns whose centre lies inside their country's polygon (with a margin)."""
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            """
            SELECT p.name, p.country_code, ST_Y(p.geom), ST_X(p.geom), p.population
              FROM place p JOIN country c ON c.code = p.country_code
             WHERE ST_DWithin(c.geom, p.geom, %s)
             ORDER BY p.id
            """,
            (COUNTRY_MARGIN_DEG / 2,),
        ).fetchall()
    return [Town(*r) for r in rows]


def load_leaf_categories(conninfo: str) -> list[str]:
    """Category codes that have a parent (services are listed under leaves)."""
    with psycopg.connect(conninfo) as conn:
        return [r[0] for r in conn.execute("SELECT code FROM category WHERE parent_code IS NOT NULL ORDER BY code")]


def load_populations(conninfo: str) -> list[str]:
    """Population group codes."""
    with psycopg.connect(conninfo) as conn:
        return [r[0] for r in conn.execute("SELECT code FROM population ORDER BY code")]


def _phone(rng: random.Random, country: str, cache: dict[str, list[str]]) -> str:
    """A valid mobile number of ``country`` (the example number with varied last digits)."""
    if country not in cache:
        example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
        base = str(example.national_number)
        numbers = []
        for tail in range(100):
            candidate = phonenumbers.parse(base[:-2] + f"{tail:02d}", country)
            if phonenumbers.is_valid_number(candidate):
                numbers.append(phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.INTERNATIONAL))
        cache[country] = numbers
    return rng.choice(cache[country])


def _offset(lat: float, lon: float, km: float, bearing: float) -> tuple[float, float]:
    """The point ``km`` away from (lat, lon) in direction ``bearing`` (radians), small-distance."""
    dlat = km * math.cos(bearing) / 111.32
    dlon = km * math.sin(bearing) / (111.32 * max(math.cos(math.radians(lat)), 0.01))
    return lat + dlat, lon + dlon


def generate_rows(n: int, towns: list[Town], categories: list[str], populations: list[str], seed: int = 7) -> list[dict[str, str]]:
    """``n`` listing CSV rows (dicts keyed by the CSV columns)."""
    rng = random.Random(seed)
    weights = [t.population for t in towns]
    picks = rng.choices(towns, weights=weights, k=n)
    n_orgs = max(20, n // 50)
    phones: dict[str, list[str]] = {}
    rows = []
    for i, town in enumerate(picks):
        sigma_km = min(0.5 + math.sqrt(town.population) / 200, 15.0)
        lat, lon = _offset(town.lat, town.lon, abs(rng.gauss(0, sigma_km)), rng.uniform(0, 2 * math.pi))
        cats = rng.sample(categories, rng.choice((1, 1, 2, 3)))
        langs = ["es"] + [c for c in rng.choices(EXTRA_LANGUAGES, EXTRA_LANGUAGE_WEIGHTS, k=rng.choice((0, 0, 1, 2)))]
        org = i % n_orgs
        rows.append(
            {
                "organization": f"Bench organization {org:05d}",
                "external_id": f"b{i}",
                "service_name": f"Servicio {cats[0].split('.')[-1]} {town.name} {i}",
                "description": f"Atención a personas desplazadas en {town.name}. Servicio generado para el benchmark.",
                "categories": ";".join(cats),
                "populations": ";".join(rng.sample(populations, rng.choice((0, 1, 2)))),
                "languages": ";".join(dict.fromkeys(langs)),
                "country": town.country,
                "address": f"Calle {rng.randint(1, 40)} #{rng.randint(1, 999)}, {town.name}",
                "latitude": f"{lat:.6f}",
                "longitude": f"{lon:.6f}",
                "phone": _phone(rng, town.country, phones) if rng.random() < 0.4 else "",
                "whatsapp": "",
                "email": f"contacto{i}@example.org" if rng.random() < 0.3 else "",
                "website": f"https://example.org/s/{i}" if rng.random() < 0.2 else "",
                "hours": rng.choice(HOURS),
                "free": rng.choice(("yes", "yes", "no", "")),
                "confidential": "yes" if rng.random() < 0.03 else "no",
                "_town_lat": town.lat,
                "_town_lon": town.lon,
            }
        )
    return rows


def pull_into_countries(conninfo: str, rows: list[dict]) -> int:
    """Move each generated point that fell outside its country (sea, border) to its town
    centre; returns how many moved.  One set-based query over all points."""
    with psycopg.connect(conninfo) as conn:
        conn.execute("CREATE TEMP TABLE gen_points (i int, country text, lat float8, lon float8)")
        with conn.cursor().copy("COPY gen_points FROM STDIN") as copy:
            for i, r in enumerate(rows):
                copy.write_row((i, r["country"], float(r["latitude"]), float(r["longitude"])))
        outside = conn.execute(
            """
            SELECT g.i FROM gen_points g JOIN country c ON c.code = g.country
             WHERE NOT ST_DWithin(c.geom, ST_SetSRID(ST_MakePoint(g.lon, g.lat), 4326), %s)
            """,
            (COUNTRY_MARGIN_DEG,),
        ).fetchall()
    for (i,) in outside:
        rows[i]["latitude"] = f"{rows[i]['_town_lat']:.6f}"
        rows[i]["longitude"] = f"{rows[i]['_town_lon']:.6f}"
    return len(outside)


def to_csv(rows: list[dict]) -> bytes:
    """The rows as a listing CSV file (header + rows), UTF-8."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")
