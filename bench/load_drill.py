"""Load scenario and database-restart drill: 50 phone users against gunicorn on 127.0.0.1.

    python bench/load_drill.py                      # 50 users, 2 minutes, must have zero errors
    python bench/load_drill.py --restart-at 40      # the same, with a PostgreSQL restart at 40 s

The data comes from ``DATABASE_URL`` (migrated and seeded with demo data: ``make database``),
copied with pg_dump into a throwaway PostgreSQL cluster (initdb + pg_ctl in a temporary
directory on a free port; never the shared server), which is the one the restart drill stops
and starts.  gunicorn runs with the project's ``gunicorn.conf.py`` on 127.0.0.1; locust runs
headless (``bench/load_phone_users.py``) for a bounded time and stops by itself.

Prints, and writes to ``bench/load-results.md``: requests, errors, p50/p95/p99 per request
name; for the drill, the outage window and every failed request's time relative to it.  Exit
status 1 when a request failed outside the outage (or at all, without a restart).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pgcluster import PG_BIN, ThrowawayPostgres, free_port, wait_until  # noqa: E402

BIN = Path(sys.executable).parent
# A request that started this long after the database came back must succeed again.
RECOVERY_GRACE_S = 5.0


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def copy_database(source_url: str, cluster: ThrowawayPostgres, name: str) -> str:
    """pg_dump ``source_url`` into a new database of the cluster; returns its URL."""
    cluster.psql(f'CREATE DATABASE "{name}"')
    dump = subprocess.run([str(PG_BIN / "pg_dump"), "-Fc", "-d", source_url], check=True, capture_output=True).stdout
    subprocess.run([str(PG_BIN / "pg_restore"), "--no-owner", "-d", cluster.url(name)], input=dump, check=True,
                   capture_output=True)  # fmt: skip
    return cluster.url(name)


def start_gunicorn(database_url: str, port: int, log: Path) -> subprocess.Popen:
    """gunicorn with the project's gunicorn.conf.py, bound to 127.0.0.1:port."""
    env = {**os.environ, "DATABASE_URL": database_url, "GUNICORN_BIND": f"127.0.0.1:{port}",
           "SECRET_KEY": os.environ.get("SECRET_KEY") or os.urandom(24).hex(), "MAPSERVICE_ENV": "production"}  # fmt: skip
    env.pop("REDIS_URL", None)  # rate limits in memory: this measures the app and its database
    process = subprocess.Popen([str(BIN / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py"),
                                "mapservice:create_app()"], cwd=ROOT, env=env,
                               stdout=log.open("w"), stderr=subprocess.STDOUT)  # fmt: skip

    def ready():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    if not wait_until(ready, 60, 0.3):
        process.kill()
        raise SystemExit("gunicorn did not start:\n" + log.read_text()[-3000:])
    return process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=int, default=120, help="seconds of load")
    parser.add_argument("--restart-at", type=float, default=None, help="restart PostgreSQL this many seconds in")
    parser.add_argument("--down-for", type=float, default=3.0, help="seconds the database stays down")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", "postgresql:///mapservice"))
    parser.add_argument("--output", default=str(ROOT / "bench" / "load-results.md"))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mapservice-load-"))
    os.chmod(work, 0o755)
    cluster = ThrowawayPostgres(work / "pg").init()
    gunicorn = None
    try:
        url = copy_database(args.database_url, cluster, "mapservice")
        services = int(cluster.psql("SELECT count(*) FROM service WHERE deleted_at IS NULL", "mapservice"))
        if services < 50:
            raise SystemExit(f"{args.database_url} has {services} services: seed demo data first (make database)")
        port = free_port()
        gunicorn = start_gunicorn(url, port, work / "gunicorn.log")
        events_file = work / "events.jsonl"
        outage: dict[str, float] = {}

        def restart_database():
            time.sleep(args.restart_at)
            outage["down"] = time.time()
            cluster.stop("fast")
            time.sleep(args.down_for)
            cluster.start()
            outage["up"] = time.time()

        drill = threading.Thread(target=restart_database, daemon=True) if args.restart_at is not None else None
        started = time.time()
        locust = subprocess.Popen(
            [str(BIN / "locust"), "-f", str(ROOT / "bench" / "load_phone_users.py"), "--headless",
             "-u", str(args.users), "-r", "10", "-t", f"{args.duration}s", "--stop-timeout", "10",
             "--host", f"http://127.0.0.1:{port}", "--only-summary", "--loglevel", "WARNING"],
            env={**os.environ, "LOAD_EVENTS_FILE": str(events_file)}, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        if drill:
            drill.start()
        try:
            output, _ = locust.communicate(timeout=args.duration + 60)
        except subprocess.TimeoutExpired:
            locust.kill()
            output, _ = locust.communicate()
        if drill:
            drill.join(30)
        events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
        return report(args, events, outage, started, output, Path(args.output))
    finally:
        if gunicorn is not None:
            gunicorn.send_signal(signal.SIGTERM)
            try:
                gunicorn.wait(20)
            except subprocess.TimeoutExpired:
                gunicorn.kill()
        cluster.destroy()


def report(args, events: list[dict], outage: dict[str, float], started: float, locust_output: str,
           output: Path) -> int:  # fmt: skip
    """Summarize, write the Markdown report, and return the exit status."""
    lines = [f"# Load: {args.users} phone users for {args.duration} s"
             + (f", PostgreSQL restarted at {args.restart_at:g} s" if outage else ""), ""]  # fmt: skip
    lines.append(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))} · {os.cpu_count()} cores (shared) · "
                 "gunicorn with gunicorn.conf.py on 127.0.0.1 · locust headless, 1–4 s between taps")  # fmt: skip
    lines += ["", "| request | count | failed | p50 ms | p95 ms | p99 ms |", "|---|---:|---:|---:|---:|---:|"]
    names = sorted({e["name"] for e in events})
    for name in [*names, "all"]:
        chosen = [e for e in events if name == "all" or e["name"] == name]
        times = [e["ms"] for e in chosen if e["ok"]]
        failed = sum(1 for e in chosen if not e["ok"])
        lines.append(f"| {name} | {len(chosen)} | {failed} | {percentile(times, 50):.0f} | "
                     f"{percentile(times, 95):.0f} | {percentile(times, 99):.0f} |")  # fmt: skip
    failures = [e for e in events if not e["ok"]]
    status = 0
    if outage:
        down, up = outage["down"], outage["up"]
        late = [e for e in failures if not (down - 0.5 <= e["t"] <= up + RECOVERY_GRACE_S)]
        codes = statistics.multimode([e["status"] for e in failures]) if failures else []
        lines += ["", f"Outage: database down {down - started:.1f}–{up - started:.1f} s "
                      f"({up - down:.1f} s). Failed requests: {len(failures)} (status {codes}), "
                      f"all started between {min((e['t'] for e in failures), default=down) - started:.1f} and "
                      f"{max((e['t'] for e in failures), default=up) - started:.1f} s; "
                      f"outside the outage (+{RECOVERY_GRACE_S:g} s to recover): {len(late)}."]  # fmt: skip
        last_failure = max((e["t"] for e in failures), default=up)
        lines.append(f"Service back {max(0.0, last_failure - up):.1f} s after PostgreSQL accepted connections.")
        status = 1 if late else 0
    else:
        status = 1 if failures else 0
        lines += ["", f"Errors: {len(failures)}."]
    text = "\n".join(lines) + "\n"
    print(text)
    if status:
        print(locust_output[-3000:])
    output.write_text(text, encoding="utf-8")
    return status


if __name__ == "__main__":
    sys.exit(main())
