"""Faults, against gunicorn and a throwaway PostgreSQL cluster (never the shared servers):
the database going away and coming back, Redis going away, an import killed half-way, and
two editors saving the same service at once."""
from __future__ import annotations

import csv
import io
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest

from tests.pgcluster import free_port, wait_until
from tests.test_backup import SAMPLE, mapservice

BIN = Path(sys.executable).parent
NEARBY = "/api/v1/services/nearby?lat=14.9&lon=-92.26&limit=3"


def http(base: str, path: str, method: str = "GET", body: dict | None = None, headers: dict | None = None,
         timeout: float = 15):  # fmt: skip
    """(status, headers, text) of one request; HTTP errors are answers too."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers={
        **({"Content-Type": "application/json"} if body is not None else {}), **(headers or {})})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read().decode()


@pytest.fixture(scope="module")
def faults_db(throwaway_postgres):
    """A database of this module's own on the throwaway cluster, with the sample services."""
    url = throwaway_postgres.clone("mapservice", "faults")
    mapservice(url, "import", str(SAMPLE))
    return url


@pytest.fixture(scope="module")
def server(faults_db, redis_server):
    """gunicorn (1 worker, 4 threads) serving the app on the faults database and Redis."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": faults_db, "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0",
           "SECRET_KEY": "f" * 16 + "a-faults-test-secret-key", "MAPSERVICE_ENV": "development"}  # fmt: skip
    log = tempfile.NamedTemporaryFile(prefix="mapservice-faults-", suffix=".log", delete=False)
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "-b", f"127.0.0.1:{port}", "-w", "1", "--threads", "4", "--timeout", "60",
         "mapservice:create_app()"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).parent.parent,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def ready():
        try:
            return http(base, "/", timeout=2)[0] == 200
        except OSError:
            return False

    try:
        assert wait_until(ready, 60, 0.3), Path(log.name).read_text()[-2000:]
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
        os.unlink(log.name)


def test_database_outage_gets_503_and_recovers_by_itself(server, throwaway_postgres):
    assert http(server, NEARBY)[0] == 200
    throwaway_postgres.stop("fast")
    try:
        status, headers, body = http(server, NEARBY)
        assert status == 503, body
        assert json.loads(body)["error"]["code"] == "unavailable"
        assert headers["Retry-After"] == "5"
        status, headers, body = http(server, "/search?lat=14.9&lon=-92.26")
        assert status == 503 and "text/html" in headers["Content-Type"]
        assert "Traceback" not in body
    finally:
        throwaway_postgres.start()
    started = time.monotonic()
    assert wait_until(lambda: http(server, NEARBY)[0] == 200, 10, 0.2), "no recovery within 10 s"
    assert time.monotonic() - started < 10
    assert http(server, "/search?lat=14.9&lon=-92.26")[0] == 200


def test_the_first_request_after_a_quiet_restart_succeeds(server, throwaway_postgres):
    """No request arrived while the database was down: none may fail after it is back."""
    for path in (NEARBY, "/search?lat=14.9&lon=-92.26", "/"):
        assert http(server, path)[0] == 200  # the pools hold connections now
    throwaway_postgres.stop("fast")
    throwaway_postgres.start()
    statuses = [http(server, path)[0] for path in (NEARBY, "/search?lat=14.9&lon=-92.26", NEARBY, "/")]
    assert statuses == [200, 200, 200, 200]


def test_redis_outage_keeps_the_site_serving_and_limits_in_memory(server, redis_server):
    bad_token = {"Authorization": "Bearer msk_" + "r" * 30}
    status, headers, _ = http(server, "/api/v1/services", "POST", {"service_name": "x"}, bad_token)
    assert status == 401 and "X-RateLimit-Limit" in headers
    assert redis_server.keys() > 0  # the limits are counted in Redis
    redis_server.stop()
    try:
        assert http(server, NEARBY)[0] == 200
        assert http(server, "/")[0] == 200
        statuses = [http(server, "/api/v1/services", "POST", {"service_name": "x"}, bad_token)[0]
                    for _ in range(125)]  # fmt: skip
        assert set(statuses) <= {401, 429}, statuses
        assert statuses[0] == 401 and statuses[-1] == 429  # still limited, per process, in memory
    finally:
        redis_server.start()
    # Back on Redis after the limiter's back-off: its counters reappear there.
    assert wait_until(lambda: http(server, "/api/v1/services", "POST", {}, {"Authorization": "Bearer msk_other"})
                      and redis_server.keys() > 0, 40, 1.0), "the limiter did not go back to Redis"  # fmt: skip


def big_listing_file(path: Path, rows: int) -> None:
    """A valid listing CSV with ``rows`` services around Tapachula."""
    rng = random.Random(8)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["organization", "external_id", "service_name", "categories", "country", "latitude",
                     "longitude", "confidential"])  # fmt: skip
    for n in range(rows):
        writer.writerow([f"Bulk Org {n % 7}", f"bulk-{n}", f"Bulk service {n}", "protection.legal", "MX",
                         f"{14.85 + rng.random() * 0.1:.5f}", f"{-92.3 + rng.random() * 0.1:.5f}",
                         "yes" if n % 5 == 0 else "no"])  # fmt: skip
    path.write_text(out.getvalue(), encoding="utf-8")


def counts(conn) -> tuple:
    return conn.execute(
        "SELECT (SELECT count(*) FROM service), (SELECT count(*) FROM location), "
        "(SELECT count(*) FROM organization), (SELECT count(*) FROM service_at_location), "
        "(SELECT max(version) FROM service)"
    ).fetchone()


def test_an_import_killed_half_way_writes_nothing(faults_db, tmp_path):
    big = tmp_path / "big.csv"
    big_listing_file(big, 20000)
    env = {**os.environ, "DATABASE_URL": faults_db, "SECRET_KEY": "k" * 40}
    with psycopg.connect(faults_db, autocommit=True) as watcher:
        before = counts(watcher)
        process = subprocess.Popen([str(BIN / "mapservice"), "import", str(big)], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        writing = "SELECT pid, query FROM pg_stat_activity WHERE application_name = 'mapservice' AND state = 'active' " \
                  "AND query ILIKE '%import_staging%' AND pid <> pg_backend_pid()"  # fmt: skip
        caught = wait_until(lambda: watcher.execute(writing).fetchone(), 120, 0.005)
        process.kill()
        process.wait(10)
        assert caught, "the import finished before it could be killed: " + process.stdout.read().decode()
        # The server aborts the dead client's transaction once it notices; then nothing is left.
        gone = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
        assert wait_until(lambda: watcher.execute(gone, (caught[0],)).fetchone()[0] == 0, 60, 0.1)
        assert counts(watcher) == before
        assert watcher.execute("SELECT count(*) FROM service WHERE external_id LIKE 'bulk-%'").fetchone()[0] == 0
        assert watcher.execute("SELECT count(*) FROM pg_prepared_xacts").fetchone()[0] == 0
        assert watcher.execute("SELECT count(*) FROM pg_locks WHERE pid = %s", (caught[0],)).fetchone()[0] == 0


@pytest.fixture(scope="module")
def editor_tokens(faults_db):
    """Two editors of the same organization, each with a write-API token."""
    tokens = []
    for who in ("ana", "beto"):
        mapservice(faults_db, "users", "create", "--email", f"{who}@example.org", "--password",
                   "a long editor passphrase", "--role", "cso_editor", "--org", "Faults Org")  # fmt: skip
        out = mapservice(faults_db, "tokens", "create", "--email", f"{who}@example.org").stdout
        tokens.append({"Authorization": "Bearer " + out.strip().splitlines()[-1]})
    return tokens


def test_two_editors_saving_at_once_never_lose_an_update(server, editor_tokens, faults_db):
    ana, beto = editor_tokens
    status, headers, body = http(server, "/api/v1/services", "POST", {
        "service_name": "Asesoría compartida", "categories": ["protection.legal"], "country": "MX",
        "latitude": 14.9056, "longitude": -92.2633, "free": True, "confidential": False}, ana)  # fmt: skip
    assert status == 201, body
    service = json.loads(body)["id"]
    etag = headers["ETag"]
    for round_ in range(6):
        barrier = threading.Barrier(2)
        results: dict[str, tuple] = {}

        def save(name, token, change):
            barrier.wait()
            results[name] = http(server, f"/api/v1/services/{service}", "PATCH", change,
                                 {**token, "If-Match": etag})  # fmt: skip

        changes = {"ana": {"description": f"ana {round_}"}, "beto": {"address": f"Calle {round_}"}}
        threads = [threading.Thread(target=save, args=(n, t, changes[n])) for n, t in (("ana", ana), ("beto", beto))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        statuses = sorted(r[0] for r in results.values())
        assert statuses == [200, 412], results
        loser = next(n for n, r in results.items() if r[0] == 412)
        winner = next(n for n, r in results.items() if r[0] == 200)
        # The loser is told the current version and applies its change on top of it.
        status, headers, _ = http(server, f"/api/v1/services/{service}", "PATCH", changes[loser],
                                  {**(ana if loser == "ana" else beto), "If-Match": results[loser][1]["ETag"]})  # fmt: skip
        assert status == 200
        etag = headers["ETag"]
        assert results[winner][1]["ETag"] != etag
        status, _, body = http(server, f"/api/v1/services/{service}")
        assert status == 200
    final = json.loads(body)
    assert final["location"]["address"] == "Calle 5"
    with psycopg.connect(faults_db) as conn:
        description, version = conn.execute("SELECT description, version FROM service WHERE id = %s",
                                            (service,)).fetchone()  # fmt: skip
    assert description == "ana 5"
    assert version == 1 + 2 * 6  # every save of every round was kept
    status, _, _ = http(server, f"/api/v1/services/{service}", "PATCH", {"description": "stale"},
                        {**ana, "If-Match": '"1"'})  # fmt: skip
    assert status == 412
