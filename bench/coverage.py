"""Time the coverage API for one country with many services (default: Mexico, 100,000).

Usage: ``DATABASE_URL=postgresql:///mapservice_bench .venv/bin/python bench/coverage.py [--services N]``

The database must be migrated and seeded (``mapservice db upgrade && mapservice seed --no-demo``).
Missing services are generated near gazetteer towns (weighted by population, a few km from
the centre, inside the country) and written through the project's set-based importer
(:func:`mapservice.services.importer.import_listings`), in batches; ``--as-is`` skips that
and times the database as it is (e.g. one loaded by ``bench/run.py``).  Then each endpoint,
and the dashboard page signed in as a temporary admin, is called through the WSGI app
several times and the median wall time is printed.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import secrets
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

from shapely import contains_xy
from shapely.geometry import shape
from sqlalchemy import text

from mapservice import create_app
from mapservice.extensions import db
from mapservice.services.importer import import_listings
from mapservice.services.listings import Listing

ORG_PREFIX = "Bench coverage org"
BATCH = 10_000


def country_shape(code: str):
    """The country's Natural Earth polygon, shrunk ~1 km so every point passes the import check."""
    features = json.loads((Path(__file__).resolve().parents[1] / "seed" / "admin0.geojson").read_text())["features"]
    geom = next(shape(f["geometry"]) for f in features if f["properties"]["iso2"] == code)
    return geom.buffer(-0.01)


def generate(country: str, count: int, start: int, seed: int = 7) -> list[Listing]:
    """``count`` valid listings around the country's towns, numbered from ``start``."""
    rng = random.Random(seed + start)
    towns = db.session.execute(
        text("SELECT ST_Y(geom), ST_X(geom), population FROM place WHERE country_code = :c"), {"c": country}
    ).all()
    categories = list(
        db.session.execute(text("SELECT code FROM category WHERE parent_code IS NOT NULL ORDER BY code")).scalars()
    )
    weights = [math.sqrt(t[2]) for t in towns]
    area = country_shape(country)
    listings: list[Listing] = []
    n = start
    while len(listings) < count:
        lat0, lon0, _ = rng.choices(towns, weights)[0]
        r = rng.expovariate(1 / 0.05)
        a = rng.uniform(0, 2 * math.pi)
        lat, lon = lat0 + r * math.sin(a), lon0 + r * math.cos(a)
        if not contains_xy(area, lon, lat):
            continue
        n += 1
        listings.append(
            Listing(
                organization=f"{ORG_PREFIX} {n % 200:03d}", external_id=f"bench-{n}", name=f"Servicio {n}",
                description="", categories=rng.sample(categories, rng.choice([1, 1, 2, 3])), populations=[],
                languages=["es"], country=country, address=None, lat=round(lat, 6), lon=round(lon, 6),
                phone=None, whatsapp=None, email=None, website=None, hours=None, free=True,
                confidential=rng.random() < 0.1, line=n,
            )
        )  # fmt: skip
    return listings


def ensure_services(country: str, wanted: int) -> None:
    """Import generated services until the country has ``wanted`` bench services."""
    have = db.session.execute(
        text(
            "SELECT count(*) FROM service s JOIN organization o ON o.id = s.organization_id "
            "WHERE o.name LIKE :p AND s.external_id LIKE 'bench-%'"
        ),
        {"p": ORG_PREFIX + "%"},
    ).scalar_one()
    while have < wanted:
        batch = min(BATCH, wanted - have)
        t0 = time.perf_counter()
        import_listings(db.session, generate(country, batch, have))
        db.session.commit()
        have += batch
        print(f"imported {have:,} ({batch:,} in {time.perf_counter() - t0:.1f} s)", flush=True)
    db.session.execute(text("ANALYZE"))
    db.session.commit()


def timed(client, url: str, runs: int) -> tuple[float, int]:
    """Median seconds of ``runs`` GETs of ``url`` (after one warm-up), and the response size."""
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(response.get_data())


def main() -> None:
    """Generate, then time the coverage endpoints."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=100_000)
    parser.add_argument("--country", default="MX")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--extra", action="append", default=[], help="another URL to time")
    parser.add_argument("--as-is", action="store_true", help="generate nothing: time the database as it is")
    args = parser.parse_args()
    app = create_app({"PUBLIC_RATE_LIMIT": "100000 per minute"})
    with app.app_context():
        if not args.as_is:
            ensure_services(args.country, args.services)
        total = db.session.execute(text("SELECT count(*) FROM service")).scalar_one()
    client = app.test_client()
    c = args.country
    urls = [
        f"/api/v1/coverage?country={c}",
        f"/api/v1/coverage?country={c}&category=protection.legal",
        f"/api/v1/coverage/gaps?country={c}&category=protection.legal&beyond_km=50",
        f"/api/v1/coverage/gaps?country={c}&category=protection.legal&beyond_km=10",
        *args.extra,
    ]
    print(f"{total:,} services in the database; median of {args.runs} runs:")
    for url in urls:
        seconds, size = timed(client, url, args.runs)
        print(f"  {seconds * 1000:8.1f} ms  {size:>9,} B  {url}")
    with signed_in_admin(app, client):
        for url in (f"/coverage/{c}", f"/coverage/{c}?category=protection.legal", f"/coverage/{c}/map?category=protection.legal"):
            seconds, size = timed(client, url, args.runs)
            print(f"  {seconds * 1000:8.1f} ms  {size:>9,} B  {url} (signed in)")


@contextmanager
def signed_in_admin(app, client):
    """``client`` signed in as a temporary admin (the dashboard is not public); removed afterwards."""
    from mapservice.services.accounts import create_user

    email = f"bench-{secrets.token_hex(4)}@example.org"
    with app.app_context():
        user = create_user(db.session, email, secrets.token_urlsafe(16), "admin")
        db.session.commit()
        user_id = user.get_id()
    with client.session_transaction() as cookie:
        cookie["_user_id"] = user_id
        cookie["_fresh"] = True
    try:
        yield
    finally:
        with app.app_context():
            db.session.execute(text("DELETE FROM app_user WHERE email = :e"), {"e": email})
            db.session.commit()


if __name__ == "__main__":
    main()
