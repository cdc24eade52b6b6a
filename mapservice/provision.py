"""Create the PostgreSQL database named by a URL when it does not exist yet.

Used by ``make run`` / ``make test``: ``python -m mapservice.provision [URL]``
(default: ``$DATABASE_URL``, then ``postgresql:///mapservice``).
"""
from __future__ import annotations

import os
import sys

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url


def ensure_database(url: str, *, recreate: bool = False) -> bool:
    """Create the database of ``url`` if missing (drop it first with ``recreate``).

    Returns True when a database was created.
    """
    parsed = make_url(url)
    name = parsed.database
    if not name:
        raise SystemExit(f"no database name in {url!r}")
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and recreate:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))
            exists = None
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True
    return False


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    args = sys.argv[1:] if argv is None else argv
    url = args[0] if args else os.environ.get("DATABASE_URL", "postgresql:///mapservice")
    created = ensure_database(url)
    print(f"database {make_url(url).database}: {'created' if created else 'already exists'}")


if __name__ == "__main__":
    main()
