"""CPU time per nearby request, app and bare reference, measured from the processes themselves.

    python bench/cpu.py --database-url postgresql:///mapservice_bench --workers 2 --rounds 3

On a shared machine wall-clock throughput moves with whatever else runs; the CPU each
request costs does not (much).  Serves the app and ``bench/reference.py`` as
``bench/run.py`` does (same gunicorn, same query points, wrk closed loop), and for each
round and target reads utime + stime of the gunicorn processes and of the PostgreSQL
backends connected to the bench database (``/proc/<pid>/stat``) before and after a fixed
load.  Prints milliseconds of CPU per request: Python (gunicorn) and PostgreSQL separately.
The database must have been loaded by ``bench/run.py`` (it reads its ``bench_ref`` table).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import load_towns  # noqa: E402
from bench.run import app_path, gunicorn, libpq_url, process_cpu_s, query_points, ref_path, run_load  # noqa: E402

def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (every thread), in seconds; 0 when it is gone."""
    return process_cpu_s(pid) or 0.0


def gunicorn_pids(port: int) -> list[int]:
    """The gunicorn master and workers serving 127.0.0.1:port."""
    needle = f"127.0.0.1:{port}".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if needle in f.read():
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


def backend_pids(conn: psycopg.Connection, database: str) -> list[int]:
    """PostgreSQL backends connected to ``database``, except this script's own."""
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (database,)
    ).fetchall()
    return [r[0] for r in rows]


def measure(port: int, paths: list[str], connections: int, seconds: float, conn, database: str) -> tuple[float, float, int]:
    """(Python ms, PostgreSQL ms) of CPU per request over one load of ``seconds``, and the requests."""
    web = gunicorn_pids(port)
    pg = backend_pids(conn, database)
    before = {pid: cpu_seconds(pid) for pid in web + pg}
    _rps, total, errors = run_load(port, paths, connections, seconds)
    if errors:
        raise RuntimeError(f"{errors} errors on port {port}")
    pg_after = backend_pids(conn, database)
    python = sum(cpu_seconds(pid) - before[pid] for pid in web)
    postgres = sum(cpu_seconds(pid) - before.get(pid, 0.0) for pid in set(pg) | set(pg_after))
    return python * 1000 / total, postgres * 1000 / total, total


def main(argv: list[str] | None = None) -> None:
    """Serve both, load each in turn, print CPU per request."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--only", choices=("app", "ref"), help="measure one side only")
    args = parser.parse_args(argv)

    url = libpq_url(args.database_url)
    database = url.rsplit("/", 1)[1].split("?", 1)[0]
    points = query_points(load_towns(url), args.queries)
    targets = {
        "app": ("mapservice:create_app()", [app_path(lat, lon, None) for lat, lon in points]),
        "ref": ("bench.reference:app", [ref_path(lat, lon, None) for lat, lon in points]),
    }
    if args.only:
        targets = {args.only: targets[args.only]}
    connections = max(4, args.workers * args.threads * 2)
    figures: dict[str, list[tuple[float, float]]] = {who: [] for who in targets}
    with psycopg.connect(url, autocommit=True) as conn:
        servers = {}
        with contextlib.ExitStack() as stack:
            for who, (target, paths) in targets.items():
                servers[who] = stack.enter_context(gunicorn(target, url, args.workers, "gthread", args.threads, connections))
                run_load(servers[who], paths, connections, 3)  # warm: imports, pools, plans
            for _ in range(args.rounds):
                for who, (_target, paths) in targets.items():
                    python, postgres, total = measure(servers[who], paths, connections, args.seconds, conn, database)
                    figures[who].append((python, postgres))
                    print(f"{who}: {python:.3f} ms Python + {postgres:.3f} ms PostgreSQL per request "
                          f"({total} requests)", file=sys.stderr)  # fmt: skip
    for who, rows in figures.items():
        python = statistics.median(r[0] for r in rows)
        postgres = statistics.median(r[1] for r in rows)
        print(f"{who}: median {python:.3f} ms Python + {postgres:.3f} ms PostgreSQL = {python + postgres:.3f} ms CPU per request")


if __name__ == "__main__":
    main()
