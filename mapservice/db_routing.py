"""Public reads on a read engine (a streaming replica when configured), everything else on
the primary.

An anonymous ``GET``/``HEAD`` — no ``Authorization`` header, no session cookie — runs its
queries on the ``replica`` bind: ``DATABASE_REPLICA_URL`` when set, else the primary
itself.  That engine is autocommit and read-only (``default_transaction_read_only``), so a
public request costs one round trip per query (no ``BEGIN``/``ROLLBACK``, no pre-ping) and
cannot write by mistake.  A signed-in person, an API client with a token, and every write
stay on the primary, so they read their own writes at once (a replica lags by up to its
replay delay).  Nothing is kept in the database session between requests (no ``SET``,
no session-level prepared state the app relies on), so PgBouncer in transaction mode works.
"""
from __future__ import annotations

from typing import Any

from flask import Flask, g, has_request_context, request
from flask_sqlalchemy.session import Session

READ_BIND = "replica"


class RoutingSession(Session):
    """``db.session``: the read engine for public reads, else Flask-SQLAlchemy's choice."""

    def get_bind(self, mapper: Any = None, clause: Any = None, bind: Any = None, **kwargs: Any):
        """The read engine during a public read request, the usual engine otherwise."""
        if bind is None and has_request_context() and g.get("public_read"):
            engine = self._db.engines.get(READ_BIND)
            if engine is not None:
                return engine
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)


def read_engine_options(app: Flask) -> dict[str, Any]:
    """Engine options of the read bind, derived from the primary's."""
    primary = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}))
    connect_args = dict(primary.get("connect_args", {}))
    options = connect_args.get("options", "")
    connect_args["options"] = (
        f"{options} -c default_transaction_read_only=on "
        f"-c statement_timeout={int(app.config.get('READ_STATEMENT_TIMEOUT_MS', 10000))}"
    ).strip()
    connect_args["application_name"] = connect_args.get("application_name", "mapservice") + "-read"
    return {
        **primary,
        "url": app.config.get("DATABASE_REPLICA_URL") or app.config["SQLALCHEMY_DATABASE_URI"],
        "isolation_level": "AUTOCOMMIT",
        "pool_pre_ping": False,
        "pool_recycle": 1800,
        "connect_args": connect_args,
    }


def init_app(app: Flask) -> None:
    """Declare the read bind (before ``db.init_app``) and mark public read requests."""
    binds = dict(app.config.get("SQLALCHEMY_BINDS") or {})
    binds.setdefault(READ_BIND, read_engine_options(app))
    app.config["SQLALCHEMY_BINDS"] = binds
    session_cookie = app.config.get("SESSION_COOKIE_NAME", "session")

    @app.before_request
    def mark_public_read() -> None:
        g.public_read = (
            request.method in ("GET", "HEAD")
            and "Authorization" not in request.headers
            and session_cookie not in request.cookies
        )


def release_inherited_connections(app: Flask) -> None:
    """Forget, without closing, every pooled connection of ``app``'s engines.

    For a process forked from one that had already used the app (gunicorn's
    ``preload_app``): the parent's connections are sockets both processes share, so the
    child must neither use nor close them (closing would end the parent's session too).
    The child's pools start empty and connect on first use.
    """
    from mapservice.extensions import db

    with app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)
