"""The backup drill on a throwaway cluster: back up, wipe, restore, compare every table."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mapservice.config import normalize_database_url
from mapservice.services.backup import BackupError, restore
from tests.pgcluster import PG_BIN

SAMPLE = Path(__file__).parent / "data" / "listings-sample.csv"
MAPSERVICE = [str(Path(sys.executable).parent / "mapservice")]


def mapservice(url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the ``mapservice`` command against ``url``."""
    env = {**os.environ, "DATABASE_URL": url, "MAPSERVICE_ENV": "development", "SECRET_KEY": "x" * 40}
    result = subprocess.run([*MAPSERVICE, *args], env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def fingerprint(cluster, database: str) -> dict[str, str]:
    """Row count and checksum of every table, and every sequence's position."""
    tables = cluster.psql(
        "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
        database,
    ).split()
    out = {}
    for table in tables:
        out[table] = cluster.psql(
            f"SELECT count(*) || ' ' || md5(coalesce(string_agg(md5(t::text), '' ORDER BY md5(t::text)), '')) "
            f"FROM {table} t",
            database,
        )
    for sequence in cluster.psql("SELECT sequencename FROM pg_sequences ORDER BY 1", database).split():
        out["sequence " + sequence] = cluster.psql(f"SELECT last_value FROM {sequence}", database)
    return out


@pytest.fixture(scope="module")
def drill_db(throwaway_postgres):
    """A database of the module's own, with services (and their history) in it."""
    url = throwaway_postgres.clone("mapservice", "drill")
    mapservice(url, "import", str(SAMPLE))
    return url


def test_backup_wipe_restore_gives_identical_data(throwaway_postgres, drill_db, tmp_path):
    cluster = throwaway_postgres
    before = fingerprint(cluster, "drill")
    assert int(before["public.service"].split()[0]) >= 5
    file = tmp_path / "drill.dump"

    result = mapservice(drill_db, "backup", str(file))
    assert "PostGIS 3." in result.stdout and file.stat().st_size > 0
    assert fingerprint(cluster, "drill") == before  # backing up changes no data

    cluster.psql("DROP SCHEMA public CASCADE; CREATE SCHEMA public", "drill")
    assert cluster.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", "drill") == "0"

    result = mapservice(drill_db, "restore", "--yes", str(file))
    assert "restored" in result.stdout
    after = fingerprint(cluster, "drill")
    assert after == before


def test_restore_refuses_another_postgis_version(throwaway_postgres, drill_db, tmp_path):
    cluster = throwaway_postgres
    cluster.psql("COMMENT ON EXTENSION postgis IS 'PostGIS (mapservice backup: postgis 2.5.5)'", "drill")
    file = tmp_path / "old.dump"
    subprocess.run([str(PG_BIN / "pg_dump"), "-Fc", "-f", str(file), "-d", drill_db], check=True)
    before = fingerprint(cluster, "drill")
    with pytest.raises(BackupError, match=r"PostGIS versions differ: the backup was made with PostGIS 2\.5\.5, "
                                          r"this server has PostGIS 3\.\d+\.\d+"):  # fmt: skip
        restore(normalize_database_url(drill_db), file)
    assert fingerprint(cluster, "drill") == before


def test_restore_refuses_a_file_that_is_not_a_mapservice_backup(throwaway_postgres, drill_db, tmp_path):
    cluster = throwaway_postgres
    cluster.psql("COMMENT ON EXTENSION postgis IS 'PostGIS'", "drill")
    plain = tmp_path / "plain.dump"
    subprocess.run([str(PG_BIN / "pg_dump"), "-Fc", "-f", str(plain), "-d", drill_db], check=True)
    with pytest.raises(BackupError, match="not a mapservice backup"):
        restore(normalize_database_url(drill_db), plain)
    garbage = tmp_path / "garbage.dump"
    garbage.write_bytes(b"not a dump at all")
    result = mapservice(drill_db, "restore", "--yes", str(garbage), check=False)
    assert result.returncode == 1 and "restore refused" in result.stderr
