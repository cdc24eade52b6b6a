"""Backups: ``pg_dump`` / ``pg_restore`` in custom format, refusing a PostGIS mismatch.

The backup records the PostGIS version of the database it came from in the comment of the
``postgis`` extension (pg_dump carries extension comments), so the archive is one ordinary
custom-format file that ``pg_restore`` reads as well.  ``restore`` refuses a backup made with
another PostGIS major.minor version than the target server's, with both versions named.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

MARKER = "mapservice backup: postgis"
MARKER_RE = re.compile(re.escape(MARKER) + r" ([0-9][0-9A-Za-z.+-]*)")
DEFAULT_PG_BIN = "/usr/lib/postgresql/15/bin"


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says why."""


@dataclass(frozen=True)
class Libpq:
    """A database for the PostgreSQL client programs: a URL without password, and env."""

    url: str
    env: dict[str, str]


def libpq_target(sqlalchemy_url: str) -> Libpq:
    """Turn the app's SQLAlchemy URL into a libpq URL; the password goes in PGPASSWORD
    (never on a command line, where ``ps`` shows it)."""
    url = make_url(sqlalchemy_url)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = url.password
    plain = url.set(drivername="postgresql", password=None)
    return Libpq(plain.render_as_string(hide_password=False), env)


def pg_program(name: str) -> str:
    """The path of a PostgreSQL client program (``MAPSERVICE_PG_BIN``, the server's, or PATH)."""
    for directory in (os.environ.get("MAPSERVICE_PG_BIN"), DEFAULT_PG_BIN):
        if directory and (Path(directory) / name).is_file():
            return str(Path(directory) / name)
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (PostgreSQL client programs are needed)")
    return found


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(args, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result


def postgis_version(sqlalchemy_url: str) -> str | None:
    """The PostGIS version installed in the database (or, if none, the one its server offers)."""
    engine = create_engine(sqlalchemy_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            installed = conn.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")).scalar()
            if installed:
                return installed
            return conn.execute(
                text("SELECT default_version FROM pg_available_extensions WHERE name = 'postgis'")
            ).scalar()
    finally:
        engine.dispose()


def major_minor(version: str) -> str:
    """``3.3.2`` → ``3.3``."""
    return ".".join(version.split(".")[:2])


def backup(sqlalchemy_url: str, file: Path) -> str:
    """Write a custom-format dump of the database to ``file``; returns the PostGIS version."""
    engine = create_engine(sqlalchemy_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            version = conn.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")).scalar()
            if not version:
                raise BackupError("the database has no PostGIS extension: is DATABASE_URL the mapservice database?")
            conn.execute(text(
                "COMMENT ON EXTENSION postgis IS "
                f"'PostGIS geometry and geography spatial types and functions ({MARKER} {version})'"
            ))  # fmt: skip
    finally:
        engine.dispose()
    target = libpq_target(sqlalchemy_url)
    partial = file.with_name(file.name + ".partial")
    _run([pg_program("pg_dump"), "--format=custom", "--no-owner", "--file", str(partial), "--dbname", target.url],
         target.env)  # fmt: skip
    partial.replace(file)  # a killed backup never leaves a truncated FILE behind
    return version


def backup_postgis_version(file: Path) -> str | None:
    """The PostGIS version recorded in a backup made by :func:`backup` (``None`` if absent)."""
    result = _run([pg_program("pg_restore"), "--section=pre-data", "--file=-", str(file)], dict(os.environ))
    match = MARKER_RE.search(result.stdout)
    return match.group(1) if match else None


def restore(sqlalchemy_url: str, file: Path) -> str:
    """Replace the database's contents with the backup in ``file`` (one transaction).

    Refuses a backup without the PostGIS marker or from another PostGIS major.minor version.
    Returns the PostGIS version.
    """
    if not file.is_file():
        raise BackupError(f"{file}: no such file")
    made_with = backup_postgis_version(file)
    if made_with is None:
        raise BackupError(f"{file}: not a mapservice backup (no PostGIS version recorded); "
                          "make backups with `mapservice backup FILE`")  # fmt: skip
    here = postgis_version(sqlalchemy_url)
    if here is None:
        raise BackupError("PostGIS is not installed on the target server (install postgresql-15-postgis-3)")
    if major_minor(here) != major_minor(made_with):
        raise BackupError(
            f"PostGIS versions differ: the backup was made with PostGIS {made_with}, this server has "
            f"PostGIS {here}; restore on a server with PostGIS {major_minor(made_with)}.x"
        )
    target = libpq_target(sqlalchemy_url)
    _run([pg_program("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
          "--exit-on-error", "--dbname", target.url, str(file)], target.env)  # fmt: skip
    return made_with
