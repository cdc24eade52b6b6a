"""mapservice benchmark: import, nearby latency and throughput against a bare reference.

    python bench/run.py --n 100000            # what `make bench` runs (N=100000)
    python bench/run.py --n 1000000 --drop    # the 1M run; drops its database afterwards

Everything runs on one database of its own (``BENCH_DATABASE_URL``, default
``postgresql:///mapservice_bench``), recreated at the start:

1. generate N listings over the seven countries' towns (weighted by population);
2. import them through the project's own path (read CSV, validate, set-based import) and,
   for reference, load the same points by raw COPY into ``bench_ref`` (+ GiST index);
3. serve the app and the bare reference (``bench/reference.py``) with the same gunicorn
   on 127.0.0.1 and measure, interleaved A/B per query point so machine drift cancels:
   single-client latency p50/p95/p99 with and without a category filter, then
   throughput (wrk, or a bounded Python load generator) at several worker counts;
4. the plan of the app's nearby query (``EXPLAIN (ANALYZE, BUFFERS)``), the coverage API
   for Mexico when it exists, and the first-load bytes of /search and /map;
5. write ``bench/results.md`` and print the figures.

Load goes to 127.0.0.1 only, bounded in request count and time.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import random
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import psycopg
import psycopg.sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import (  # noqa: E402
    Town,
    generate_rows,
    load_leaf_categories,
    load_populations,
    load_towns,
    pull_into_countries,
    to_csv,
)

DEFAULT_URL = "postgresql:///mapservice_bench"
CATEGORY = "protection.legal"  # a leaf: about 1 service in 14 has it
TARGETS = {
    "import_rows_per_s": 5000,
    "p50_ratio": 2.0,
    "p95_ms": 50.0,
    "throughput_ratio": 0.6,
    "coverage_s": 1.0,
}


@dataclass
class Results:
    """Every figure of one run, in the order results.md shows them."""

    n: int
    started: str
    machine: dict[str, str] = field(default_factory=dict)
    imports: dict[str, float] = field(default_factory=dict)
    latency: dict[str, dict[str, float]] = field(default_factory=dict)
    throughput: list[dict[str, float]] = field(default_factory=list)
    explain: dict[str, str] = field(default_factory=dict)
    coverage: dict[str, object] = field(default_factory=dict)
    clusters: dict[str, object] = field(default_factory=dict)
    first_load: dict[str, dict[str, object]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def log(message: str) -> None:
    """Progress on stderr (stdout gets the figures)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def libpq_url(url: str) -> str:
    """A plain libpq URL (no SQLAlchemy driver suffix)."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


# --------------------------------------------------------------------------- setup


def prepare_database(url: str) -> None:
    """Recreate the bench database, migrate and seed reference data (no demo data)."""
    from flask_migrate import upgrade

    from mapservice import create_app
    from mapservice.config import normalize_database_url
    from mapservice.extensions import db
    from mapservice.provision import ensure_database
    from mapservice.services.seed import seed_reference

    ensure_database(url, recreate=True)
    app = create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": normalize_database_url(url)})
    with app.app_context():
        upgrade()
        seed_reference(db.session)
        db.session.commit()
        db.engine.dispose()


def import_with_project_path(url: str, data: bytes, results: Results) -> None:
    """``mapservice import``'s own steps, timed: read + validate, then the set-based import."""
    from mapservice import create_app
    from mapservice.config import normalize_database_url
    from mapservice.extensions import db
    from sqlalchemy import text

    from mapservice.services.importer import lift_limits_for_bulk_import, read_listing_csv, validate_and_import

    app = create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": normalize_database_url(url)})
    with app.app_context():
        # As `mapservice import` does: a big file validates for minutes inside one transaction.
        lift_limits_for_bulk_import(db.session)
        backend = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        pg0, cpu0, t0 = process_cpu_s(backend), time.process_time(), time.perf_counter()
        report = validate_and_import(db.session, read_listing_csv(data))
        db.session.commit()
        t1, cpu1, pg1 = time.perf_counter(), time.process_time(), process_cpu_s(backend)
        db.engine.dispose()
    n = report.total
    results.imports.update(
        rows=n,
        created=report.created,
        python_cpu_s=cpu1 - cpu0,
        postgres_cpu_s=pg1 - pg0 if pg0 is not None and pg1 is not None else None,
        total_s=t1 - t0,
        rows_per_s=n / (t1 - t0),
    )


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a local process (a PostgreSQL backend), or ``None``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_reference(url: str, rows: list[dict], parents: dict[str, str], results: Results) -> None:
    """Raw COPY of the same points into ``bench_ref`` and a GiST index: the floor."""
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_ref")
        conn.execute("CREATE TABLE bench_ref (id int PRIMARY KEY, name text, categories text[], geom geometry(Point, 4326))")
        t0 = time.perf_counter()
        with conn.cursor().copy("COPY bench_ref (id, name, categories, geom) FROM STDIN") as copy:
            for i, r in enumerate(rows, 1):
                codes = r["categories"].split(";")
                expanded = sorted(set(codes) | {parents[c] for c in codes if parents.get(c)})
                copy.write_row((i, r["service_name"], expanded, f"SRID=4326;POINT({r['longitude']} {r['latitude']})"))
        t1 = time.perf_counter()
        conn.execute("CREATE INDEX bench_ref_geom ON bench_ref USING gist (geom)")
        conn.commit()
        t2 = time.perf_counter()
        conn.execute("ANALYZE bench_ref")
        conn.commit()
    results.imports.update(
        copy_s=t1 - t0,
        copy_index_s=t2 - t1,
        copy_rows_per_s=len(rows) / (t2 - t0),
    )


def drop_database(url: str) -> None:
    """Drop the bench database (frees the disk the 1M run takes)."""
    name = re.sub(r"\?.*$", "", url).rsplit("/", 1)[1]
    admin = re.sub(r"/[^/?]*(\?.*)?$", "/postgres", libpq_url(url))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        conn.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {}").format(psycopg.sql.Identifier(name)))


def analyze(url: str) -> None:
    """Fresh statistics after the bulk load, as a deployment would have them."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def gunicorn(target: str, url: str, workers: int, worker_class: str, threads: int, connections: int | None = None):
    """Serve ``target`` with gunicorn on a free 127.0.0.1 port; yields the port.

    ``connections``: the load generator's keep-alive connections, spread evenly over the
    workers (each accepts at most its share, ``--worker-connections``), as a front proxy
    spreading requests would.  Left to the kernel, one worker is handed 6 or all 8 of a
    2-worker run's connections at random, and requests/s swings by a third from run to
    run, for the reference as much as for the app.
    """
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=url,
        BENCH_REF_DSN=libpq_url(url),
        SECRET_KEY=secrets.token_urlsafe(32),
        MAPSERVICE_ENV="production",
        PYTHONWARNINGS="ignore",
        # The per-IP public limit stays on and is counted in Redis, as in production, but
        # high enough for one load generator on 127.0.0.1 (production: 300 per minute).
        MAPSERVICE_PUBLIC_RATE_LIMIT="10000000 per minute",
        REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
        GUNICORN_THREADS=str(threads),  # gunicorn.conf.py sizes the connection pool from it
    )
    cmd = [
        str(Path(sys.executable).parent / "gunicorn"),
        "--config", str(ROOT / "gunicorn.conf.py"),
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--worker-class", worker_class,
        "--threads", str(threads),
        "--log-level", "warning",
        *(["--worker-connections", str(-(-connections // workers))] if connections else []),
        target,
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn {target} did not start: {proc.stderr.read().decode()[-2000:]}")
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes, float]:
    """One GET on a new connection; returns status, headers, body and seconds."""
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        elapsed = time.perf_counter() - t0
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body, elapsed
    finally:
        conn.close()


# --------------------------------------------------------------------------- measurements


def query_points(towns: list[Town], k: int, seed: int = 11) -> list[tuple[float, float]]:
    """Where people search from: 80% drawn by population, 20% any town (sparse areas)."""
    rng = random.Random(seed)
    by_pop = rng.choices(towns, weights=[t.population for t in towns], k=k)
    points = []
    for i in range(k):
        town = by_pop[i] if rng.random() < 0.8 else rng.choice(towns)
        # Canonical 3 decimals, as the site's own links, forms and scripts send them.
        points.append((round(town.lat + rng.gauss(0, 0.02), 3), round(town.lon + rng.gauss(0, 0.02), 3)))
    return points


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99/mean of seconds, in milliseconds."""
    qs = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "p50": statistics.median(samples) * 1000,
        "p95": qs[94] * 1000,
        "p99": qs[98] * 1000,
        "mean": statistics.fmean(samples) * 1000,
        "n": len(samples),
    }


def app_path(lat: float, lon: float, category: str | None) -> str:
    """The app's nearby URL."""
    return f"/api/v1/services/nearby?lat={lat}&lon={lon}" + (f"&category={category}" if category else "")


def ref_path(lat: float, lon: float, category: str | None) -> str:
    """The reference's nearby URL."""
    return f"/nearby?lat={lat}&lon={lon}" + (f"&category={category}" if category else "")


def measure_latency(app_port: int, ref_port: int, points, results: Results) -> None:
    """Single client, interleaved A/B (random order per point), with and without a category."""
    rng = random.Random(5)
    for port, paths in ((app_port, [app_path(a, b, None) for a, b in points]), (ref_port, [ref_path(a, b, None) for a, b in points])):
        warm_up(port, paths, 4)
    for variant, category in (("all", None), ("category", CATEGORY)):
        for lat, lon in points[:30]:  # warm-up: caches, connections, code paths
            get(app_port, app_path(lat, lon, category))
            get(ref_port, ref_path(lat, lon, category))
        samples: dict[str, list[float]] = {"app": [], "ref": []}
        for lat, lon in points:
            order = ["app", "ref"]
            rng.shuffle(order)
            for who in order:
                if who == "app":
                    status, _, body, seconds = get(app_port, app_path(lat, lon, category))
                else:
                    status, _, body, seconds = get(ref_port, ref_path(lat, lon, category))
                if status != 200:
                    raise RuntimeError(f"{who} answered {status}: {body[:300]!r}")
                samples[who].append(seconds)
        results.latency[f"app/{variant}"] = percentiles(samples["app"])
        results.latency[f"ref/{variant}"] = percentiles(samples["ref"])
        log(f"latency {variant}: app p50 {results.latency[f'app/{variant}']['p50']:.2f} ms, "
            f"ref p50 {results.latency[f'ref/{variant}']['p50']:.2f} ms")  # fmt: skip


def measure_sql(url: str, points, results: Results) -> None:
    """The two queries alone over one psycopg connection (no HTTP, no Python web stack),
    with JIT off as the app's connections have it (mapservice/config.py)."""
    from mapservice.queries.services import NearbyFilters, nearest_services_sql

    ref_sql = open(ROOT / "bench" / "reference.py").read().split('SQL = """', 1)[1].split('"""', 1)[0]
    rng = random.Random(9)
    with psycopg.connect(libpq_url(url), autocommit=True, options="-c jit=off") as conn:
        for variant, category in (("all", None), ("category", CATEGORY)):
            samples: dict[str, list[float]] = {"app": [], "ref": []}
            key = conn.execute("SELECT hashtext(%s)", (category,)).fetchone()[0] if category else None
            for lat, lon in points:
                # The API's own statement: the body built in SQL, the category key known.
                sql, params = nearest_services_sql(
                    lat, lon, NearbyFilters(category=category), 20, as_json=True, category_key=key
                )
                # SQLAlchemy's :name style to psycopg's %(name)s.
                app_sql = re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql.replace("%", "%%"))
                order = ["app", "ref"]
                rng.shuffle(order)
                for who in order:
                    t0 = time.perf_counter()
                    if who == "app":
                        conn.execute(app_sql, params).fetchall()
                    else:
                        conn.execute(ref_sql, {"lat": lat, "lon": lon, "category": category, "limit": 20}).fetchall()
                    samples[who].append(time.perf_counter() - t0)
            results.latency[f"sql-app/{variant}"] = percentiles(samples["app"])
            results.latency[f"sql-ref/{variant}"] = percentiles(samples["ref"])


def explain(url: str, lat: float, lon: float, results: Results) -> None:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of the app's nearby query, with and without a category."""
    from mapservice.queries.services import NearbyFilters, nearest_services_sql

    with psycopg.connect(libpq_url(url), autocommit=True, options="-c jit=off") as conn:
        for variant, category in (("all", None), ("category", CATEGORY)):
            key = conn.execute("SELECT hashtext(%s)", (category,)).fetchone()[0] if category else None
            sql, params = nearest_services_sql(
                lat, lon, NearbyFilters(category=category), 20, as_json=True, category_key=key
            )
            app_sql = re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql.replace("%", "%%"))
            conn.execute(app_sql, params).fetchall()  # warm
            plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + app_sql, params).fetchall()
            results.explain[variant] = "\n".join(r[0] for r in plan)


def wrk_available() -> bool:
    """True when wrk (Debian package ``wrk``) is installed."""
    return shutil.which("wrk") is not None


def run_load(port: int, paths: list[str], connections: int, seconds: float) -> tuple[float, int, int]:
    """Requests/s, requests and errors of a bounded closed-loop load on 127.0.0.1:port."""
    if wrk_available():
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write("local paths = {" + ",".join(json.dumps(p) for p in paths) + "}\n")
            script.write(
                "local i = 0\n"
                                "request = function()\n  i = i % #paths + 1\n  return wrk.format('GET', paths[i])\nend\n"
            )
        try:
            done = subprocess.run(
                ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "10s",
                 "-s", script.name, f"http://127.0.0.1:{port}"],
                capture_output=True, text=True, timeout=seconds + 30,
            )  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-1000:]} {done.stderr[-1000:]}")
            out = done.stdout
        finally:
            os.unlink(script.name)
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        total = int(re.search(r"(\d+) requests in", out).group(1))
        non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        errors = int(non2xx.group(1)) if non2xx else 0
        socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        if socket_errors:
            errors += sum(int(x) for x in socket_errors.groups())
        return rps, total, errors
    return python_load(port, paths, connections, seconds)


def python_load(port: int, paths: list[str], connections: int, seconds: float) -> tuple[float, int, int]:
    """Fallback load generator in a second process: ``connections`` threads, closed loop."""
    code = f"""
import http.client, threading, time, json, sys
paths = json.loads(sys.stdin.read())
stop = time.monotonic() + {seconds}
counts = [0] * {connections}; errors = [0] * {connections}
def worker(k):
    i = k
    while time.monotonic() < stop:
        c = http.client.HTTPConnection("127.0.0.1", {port}, timeout=10)
        try:
            c.request("GET", paths[i % len(paths)]); r = c.getresponse(); r.read()
            if r.status == 200: counts[k] += 1
            else: errors[k] += 1
        except Exception: errors[k] += 1
        finally: c.close()
        i += {connections}
t0 = time.monotonic()
threads = [threading.Thread(target=worker, args=(k,)) for k in range({connections})]
[t.start() for t in threads]; [t.join() for t in threads]
print(json.dumps([sum(counts) / (time.monotonic() - t0), sum(counts), sum(errors)]))
"""
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(paths), capture_output=True, text=True,
                         timeout=seconds + 60, check=True).stdout  # fmt: skip
    rps, total, errors = json.loads(out)
    return rps, total, errors


def warm_up(port: int, paths: list[str], connections: int) -> None:
    """Load until throughput is steady: a fresh worker's first requests import modules and
    open connections (seconds each on a busy machine) and would stall the measurement."""
    previous = 0.0
    for _ in range(8):
        rps, _total, _errors = run_load(port, paths[:200], connections, 2)
        if previous and rps <= previous * 1.2:
            return
        previous = rps


def measure_throughput(url: str, points, worker_counts, seconds: float, worker_class: str, threads: int, results: Results) -> None:
    """Requests/s of app and reference at each worker count, alternating app/ref twice."""
    app_paths = [app_path(lat, lon, None) for lat, lon in points]
    ref_paths = [ref_path(lat, lon, None) for lat, lon in points]
    for workers in worker_counts:
        connections = max(4, workers * threads * 2)
        with gunicorn("mapservice:create_app()", url, workers, worker_class, threads, connections) as app_port, \
                gunicorn("bench.reference:app", url, workers, worker_class, threads, connections) as ref_port:  # fmt: skip
            for port, paths in ((app_port, app_paths), (ref_port, ref_paths)):
                warm_up(port, paths, connections)
            figures = {"app": [], "ref": []}
            errors = {"app": 0, "ref": 0}
            for _ in range(2):
                for who, port, paths in (("app", app_port, app_paths), ("ref", ref_port, ref_paths)):
                    rps, _total, errs = run_load(port, paths, connections, seconds)
                    figures[who].append(rps)
                    errors[who] += errs
        row = {
            "workers": workers,
            "connections": connections,
            "app_rps": statistics.fmean(figures["app"]),
            "ref_rps": statistics.fmean(figures["ref"]),
            "app_errors": errors["app"],
            "ref_errors": errors["ref"],
        }
        row["ratio"] = row["app_rps"] / row["ref_rps"]
        results.throughput.append(row)
        log(f"throughput {workers} worker(s): app {row['app_rps']:.0f} req/s, ref {row['ref_rps']:.0f} req/s")


COVERAGE_EXTRA = (
    f"/api/v1/coverage?country=MX&category={CATEGORY}",
    f"/api/v1/coverage/gaps?country=MX&category={CATEGORY}&beyond_km=50",
    f"/api/v1/coverage/gaps?country=MX&category={CATEGORY}&beyond_km=10",
)


def measure_coverage(port: int, results: Results) -> None:
    """Time of ``/api/v1/coverage?country=MX`` (median of 5), when the endpoint exists, and
    of the same with a category and of the unserved towns at 50 and 10 km."""
    status, _, body, _ = get(port, "/api/v1/coverage?country=MX")
    if status == 404:
        results.coverage = {"skipped": "GET /api/v1/coverage is not on this branch yet (404)"}
        return
    if status != 200:
        results.coverage = {"skipped": f"GET /api/v1/coverage answered {status}: {body[:200]!r}"}
        return
    times = [get(port, "/api/v1/coverage?country=MX")[3] for _ in range(5)]
    results.coverage = {"median_s": statistics.median(times), "max_s": max(times), "areas": len(json.loads(body).get("areas", []))}
    extra = {}
    for path in COVERAGE_EXTRA:
        if get(port, path)[0] == 200:
            extra[path] = statistics.median(get(port, path)[3] for _ in range(5))
    results.coverage["extra"] = extra


MEXICO_BBOX = "-118.4,14.5,-86.7,32.7"


def measure_clusters(port: int, results: Results) -> None:
    """The clustered map of all of Mexico at zoom 5: computed (median of 5 boxes that differ
    by a hair, so none is answered from the app's one-minute cache of large boxes) and
    answered again from that cache (median of 5); points sent."""
    minx, miny, maxx, maxy = (float(x) for x in MEXICO_BBOX.split(","))
    paths = [f"/api/v1/services/clusters?bbox={minx},{miny},{maxx + k / 1e4:g},{maxy}&zoom=5" for k in range(6)]
    status, _, body, _ = get(port, paths[0])
    if status == 404:
        results.clusters = {"skipped": "GET /api/v1/services/clusters is not on this branch (404)"}
        return
    data = json.loads(body)
    times = [get(port, path)[3] for path in paths[1:]]
    kept = [get(port, paths[0])[3] for _ in range(5)]
    results.clusters = {
        "median_s": statistics.median(times), "max_s": max(times), "points": len(data["clusters"]),
        "services": data["total"], "bytes": len(body), "kept_median_s": statistics.median(kept),
        "gzip_bytes": len(get(port, paths[0], {"Accept-Encoding": "gzip"})[2]),
    }  # fmt: skip


ASSET_RE = re.compile(r"""<(?:link[^>]+href|script[^>]+src|img[^>]+src)=["']([^"']+)["']""", re.IGNORECASE)
BROWSER_ENCODINGS = "gzip, deflate, br, zstd"  # what Chromium offers
# What Leaflet's default marker icon loads (its path comes from leaflet.css's URL).
LEAFLET_MARKER_IMAGES = ("images/marker-icon.png", "images/marker-shadow.png")
# The clusters request of the country-wide map on a phone: the seven countries' box widened to
# whole grid cells of zoom 2 (static/map.js asks one zoom level coarser than the map's 3).
REGION_CLUSTERS = "/api/v1/services/clusters?bbox=-135,0,-67.5,33.75&zoom=2"


def measure_first_load(port: int, lat: float, lon: float, results: Results) -> None:
    """Bytes a first visit downloads, compressed as a browser asks (br/gzip) and uncompressed:
    the page, its same-origin CSS/JS/images (Leaflet's marker images where the map has
    markers), the clusters JSON of the country-wide map, the outline basemap a map draws
    when no tile server is configured (the default), and what the service worker that
    app.js registers fetches on install (/sw.js and /offline; its assets are cached already).
    The page is asked for at canonical (3-decimal) coordinates, as the site's links write
    them; ``redirects`` counts the redirects followed (0 on the site's normal path).  Every
    page is loaded once before the measured pass: static files reach their strongest brotli
    in the background after their first request (mapservice.assets.compressed_file)."""
    spot = f"lat={round(lat, 3):g}&lon={round(lon, 3):g}"
    pages = (("/search", f"/search?{spot}"), ("/map", f"/map?{spot}"), ("/map (country-wide)", "/map"))
    for measured in (False, True):
        for name, path in pages:
            fig = first_load_of(port, path)
            if measured:
                results.first_load[name] = fig
        time.sleep(0 if measured else 3)


def first_load_of(port: int, path: str) -> dict[str, object]:
    """The figures of one first visit of ``path`` (see :func:`measure_first_load`)."""
    import html as html_module
    from urllib.parse import urljoin

    redirects = 0
    status, headers, body, _ = get(port, path, {"Accept-Encoding": BROWSER_ENCODINGS, "Accept-Language": "es"})
    while status in (301, 302, 303, 307, 308) and redirects < 3:
        redirects += 1
        path = headers["location"].replace(f"http://127.0.0.1:{port}", "")
        status, headers, body, _ = get(port, path, {"Accept-Encoding": BROWSER_ENCODINGS, "Accept-Language": "es"})
    if status != 200:
        return {"skipped": status}
    _, _, plain, _ = get(port, path, {"Accept-Language": "es"})
    page = plain.decode("utf-8", "replace")
    fig = {"wire_bytes": len(body), "raw_bytes": len(plain), "requests": 1, "redirects": redirects,
           "page_wire_bytes": len(body), "encoding": headers.get("content-encoding", "none")}  # fmt: skip
    assets = [html_module.unescape(a) for a in ASSET_RE.findall(page)]
    leaflet_css = next((a for a in assets if a.split("?")[0].endswith("/leaflet.css")), None)
    if leaflet_css and "L.marker(" in page:
        assets += [urljoin(leaflet_css.split("?")[0], image) for image in LEAFLET_MARKER_IMAGES]
    if "data-country-wide" in page:
        assets.append(REGION_CLUSTERS)
    assets += re.findall(r'data-basemap-url="([^"]+)"', page)  # the outline basemap basemap.js fetches
    if any(a.startswith("/static/app.js") for a in assets):  # it registers the service worker
        assets += ["/sw.js", "/offline"]
    for asset in dict.fromkeys(assets):
        if asset.startswith(("http://", "https://", "//", "data:")):
            continue
        asset_path = asset if asset.startswith("/") else "/" + asset
        s1, _, compressed, _ = get(port, asset_path, {"Accept-Encoding": BROWSER_ENCODINGS, "Accept-Language": "es"})
        s2, _, uncompressed, _ = get(port, asset_path, {"Accept-Language": "es"})
        if s1 == 200 and s2 == 200:
            fig["wire_bytes"] += len(compressed)
            fig["raw_bytes"] += len(uncompressed)
            fig["requests"] += 1
    return fig


# --------------------------------------------------------------------------- report


def machine_info(url: str) -> dict[str, str]:
    """Machine, versions and load: what the figures were measured on."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    with psycopg.connect(libpq_url(url)) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
        postgis = conn.execute("SELECT postgis_lib_version()").fetchone()[0]
        shared_buffers = conn.execute("SHOW shared_buffers").fetchone()[0]
    versions = {}
    for dist in ("Flask", "SQLAlchemy", "psycopg", "gunicorn", "Werkzeug", "orjson", "Flask-Compress"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("\n")[0] if wrk_available() else "absent (Python load generator)"
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "memory": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": f"{pg} (shared_buffers {shared_buffers}), PostGIS {postgis}",
        "packages": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "load generator": wrk.strip(),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def fmt_ms(x: float) -> str:
    """Milliseconds with two decimals."""
    return f"{x:.2f}"


def verdict(ok: bool) -> str:
    """The target column."""
    return "met" if ok else "**missed**"


def render(results: Results) -> str:
    """results.md."""
    r = results
    lines = [
        f"# Benchmark results: {r.n:,} services",
        "",
        f"Measured {r.started} by `python bench/run.py --n {r.n}` (`make bench`). "
        "Latency: one client, a new connection per request, app and reference interleaved in random "
        "order per query point (drift cancels). Ratios are app / reference (lower is better for "
        "latency, higher for throughput).",
        "",
        "## Machine",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in r.machine.items()]
    imp = r.imports
    lines += [
        "",
        "## Import",
        "",
        "| path | rows | seconds | rows/s | vs raw COPY | target |",
        "|---|---:|---:|---:|---:|---|",
        f"| project import (`read_listing_csv` + `validate_and_import` + commit, as `mapservice import`) | {imp['rows']:,} | "
        f"{imp['total_s']:.1f} | {imp['rows_per_s']:,.0f} | {imp['rows_per_s'] / imp['copy_rows_per_s']:.3f} | "
        f"≥ {TARGETS['import_rows_per_s']:,} rows/s: {verdict(imp['rows_per_s'] >= TARGETS['import_rows_per_s'])} |",
        f"| &nbsp;&nbsp;CPU of the importing Python process (validation, COPY; its own thread beside the database's) | | "
        f"{imp['python_cpu_s']:.1f} | | | |",
        f"| &nbsp;&nbsp;CPU of its PostgreSQL backend (checks, set-based writes, indexes, triggers) | | "
        f"{'n/a' if imp.get('postgres_cpu_s') is None else format(imp['postgres_cpu_s'], '.1f')} | | | |",
        f"| reference: raw COPY into `bench_ref` + GiST index | {imp['rows']:,} | {imp['copy_s'] + imp['copy_index_s']:.1f} | "
        f"{imp['copy_rows_per_s']:,.0f} | 1 | |",
        "",
        "## Nearby search latency (single client, ms)",
        "",
        "| what | filter | p50 | p95 | p99 | mean | p50 ratio | targets |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for variant, label in (("all", "none"), ("category", f"`{CATEGORY}`")):
        a, b = r.latency[f"app/{variant}"], r.latency[f"ref/{variant}"]
        ok = a["p50"] <= TARGETS["p50_ratio"] * b["p50"] and a["p95"] < TARGETS["p95_ms"]
        lines.append(
            f"| app `/api/v1/services/nearby` (gunicorn) | {label} | {fmt_ms(a['p50'])} | {fmt_ms(a['p95'])} | "
            f"{fmt_ms(a['p99'])} | {fmt_ms(a['mean'])} | {a['p50'] / b['p50']:.2f} | p50 ≤ 2x ref and p95 < 50 ms: {verdict(ok)} |"
        )
        lines.append(
            f"| reference werkzeug + psycopg KNN (gunicorn) | {label} | {fmt_ms(b['p50'])} | {fmt_ms(b['p95'])} | "
            f"{fmt_ms(b['p99'])} | {fmt_ms(b['mean'])} | 1 | |"
        )
        if f"sql-app/{variant}" in r.latency:
            sa, sb = r.latency[f"sql-app/{variant}"], r.latency[f"sql-ref/{variant}"]
            lines.append(
                f"| &nbsp;&nbsp;app's SQL alone (psycopg, no HTTP) | {label} | {fmt_ms(sa['p50'])} | {fmt_ms(sa['p95'])} | "
                f"{fmt_ms(sa['p99'])} | {fmt_ms(sa['mean'])} | {sa['p50'] / sb['p50']:.2f} | |"
            )
            lines.append(
                f"| &nbsp;&nbsp;reference SQL alone | {label} | {fmt_ms(sb['p50'])} | {fmt_ms(sb['p95'])} | "
                f"{fmt_ms(sb['p99'])} | {fmt_ms(sb['mean'])} | 1 | |"
            )
    lines += [
        "",
        "## Throughput (requests/s, no filter, wrk closed loop)",
        "",
        "| gunicorn workers | connections | app req/s | reference req/s | ratio | errors app/ref | target ≥ 0.6 |",
        "|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in r.throughput:
        lines.append(
            f"| {row['workers']} | {row['connections']} | {row['app_rps']:,.0f} | {row['ref_rps']:,.0f} | "
            f"{row['ratio']:.2f} | {row['app_errors']}/{row['ref_errors']} | {verdict(row['ratio'] >= TARGETS['throughput_ratio'])} |"
        )
    lines += ["", "## Coverage API (`/api/v1/coverage?country=MX`)", ""]
    if "skipped" in r.coverage:
        lines.append(f"Skipped: {r.coverage['skipped']}.")
    elif r.coverage:
        lines.append(
            f"Median {r.coverage['median_s'] * 1000:.0f} ms, max {r.coverage['max_s'] * 1000:.0f} ms over 5 calls "
            f"({r.coverage['areas']} areas); target < 1 s: {verdict(r.coverage['max_s'] < TARGETS['coverage_s'])}."
        )
        for path, seconds in r.coverage.get("extra", {}).items():
            lines.append(f"- `{path}`: median {seconds * 1000:.0f} ms over 5 calls")
    lines += ["", f"## Country-wide map: `/api/v1/services/clusters` over Mexico at zoom 5", ""]
    if "skipped" in r.clusters:
        lines.append(f"Skipped: {r.clusters['skipped']}.")
    elif r.clusters:
        c = r.clusters
        lines.append(
            f"{c['services']:,} services sent as {c['points']:,} points (cap 2,000), {c['bytes']:,} bytes "
            f"({c['gzip_bytes']:,} gzipped); computed: median {c['median_s'] * 1000:.0f} ms, max {c['max_s'] * 1000:.0f} ms "
            f"over 5 calls; kept for a minute (a box this large): median {c.get('kept_median_s', float('nan')) * 1000:.1f} ms "
            "over 5 calls."
        )
    lines += ["", "## First load (page + same-origin CSS/JS/images + outline basemap + service worker install, br/gzip as Chromium asks)", "",
              "| page | requests | redirects | page on the wire | all on the wire | uncompressed | wire / uncompressed |",
              "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for page, fig in r.first_load.items():
        if "skipped" in fig:
            lines.append(f"| `{page}` | answered {fig['skipped']} | | | | | |")
        else:
            lines.append(
                f"| `{page}` | {fig['requests']} | {fig['redirects']} | {fig['page_wire_bytes']:,} ({fig['encoding']}) | "
                f"{fig['wire_bytes']:,} | {fig['raw_bytes']:,} | {fig['wire_bytes'] / fig['raw_bytes']:.2f} |"
            )
    for variant in r.explain:
        lines += ["", f"## Plan of the app's nearby query ({variant})", "", "```", r.explain[variant], "```"]
    if r.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in r.notes]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="services to generate (default 100000)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--queries", type=int, default=400, help="query points per latency series")
    parser.add_argument("--seconds", type=float, default=5, help="seconds per throughput run")
    parser.add_argument("--workers", default="1,2,4", help="gunicorn worker counts for throughput")
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="keep the loaded database (skip generate + import)")
    parser.add_argument("--drop", action="store_true", help="drop the bench database at the end")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results.md")
    args = parser.parse_args(argv)

    url = args.database_url
    results = Results(n=args.n, started=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    try:
        if args.reuse:
            previous = json.loads((args.output.with_suffix(".json")).read_text())
            results.imports = previous["imports"]
            results.notes.append("import figures reused from the run that loaded this database (--reuse)")
        else:
            log(f"preparing {url}")
            prepare_database(url)
            towns = load_towns(libpq_url(url))
            log(f"generating {args.n:,} services over {len(towns):,} towns")
            rows = generate_rows(args.n, towns, load_leaf_categories(libpq_url(url)), load_populations(libpq_url(url)))
            moved = pull_into_countries(libpq_url(url), rows)
            results.notes.append(f"{moved:,} generated points fell outside their country (sea, border) and were put at their town centre")
            data = to_csv(rows)
            log(f"importing {len(data) / 1e6:.0f} MB of CSV through the project's import")
            import_with_project_path(url, data, results)
            log(f"import: {results.imports['rows_per_s']:,.0f} rows/s; raw COPY for reference")
            with psycopg.connect(libpq_url(url)) as conn:
                parents = dict(conn.execute("SELECT code, parent_code FROM category").fetchall())
            load_reference(url, rows, parents, results)
            del rows, data
            analyze(url)
        results.machine = machine_info(url)
        towns = load_towns(libpq_url(url))
        points = query_points(towns, args.queries)
        log("SQL alone, interleaved")
        measure_sql(url, points, results)
        explain(url, *points[0], results)
        log("latency through gunicorn, interleaved")
        with gunicorn("mapservice:create_app()", url, 2, args.worker_class, args.threads) as app_port, \
                gunicorn("bench.reference:app", url, 2, args.worker_class, args.threads) as ref_port:  # fmt: skip
            measure_latency(app_port, ref_port, points, results)
            measure_coverage(app_port, results)
            measure_clusters(app_port, results)
            measure_first_load(app_port, *points[0], results)
        log("throughput")
        workers = [int(w) for w in args.workers.split(",")]
        measure_throughput(url, points, workers, args.seconds, args.worker_class, args.threads, results)
        results.machine["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        if not args.reuse:
            args.output.with_suffix(".json").write_text(json.dumps({"imports": results.imports}))
        report = render(results)
        args.output.write_text(report)
        print(report)
        log(f"wrote {args.output}")
    finally:
        if args.drop:
            drop_database(url)
            log(f"dropped {url}")


if __name__ == "__main__":
    main()
