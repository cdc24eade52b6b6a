"""Public anonymous GETs read on the read engine (replica); writes and signed-in people on the primary."""
from __future__ import annotations

import os

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mapservice import create_app
from mapservice.extensions import db


@pytest.fixture
def replica_app():
    """An app with a replica URL (never connected to: choosing an engine does not connect)."""
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "routing-test-secret-0123456789abcdef",
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg:///mapservice_primary_unused",
            "DATABASE_REPLICA_URL": "postgresql+psycopg:///mapservice_replica_unused",
        }
    )


def bound_database(app, path, method="GET", headers=None) -> str:
    with app.test_request_context(path, method=method, headers=headers or {}):
        app.preprocess_request()
        try:
            return db.session.get_bind().url.database
        finally:
            db.session.remove()


def test_anonymous_get_reads_on_the_replica(replica_app):
    assert bound_database(replica_app, "/api/v1/services/nearby?lat=14.9&lon=-92.2") == "mapservice_replica_unused"
    assert bound_database(replica_app, "/search?q=Tapachula", headers={"Cookie": "lang=en"}) == "mapservice_replica_unused"


def test_writes_tokens_and_signed_in_people_use_the_primary(replica_app):
    assert bound_database(replica_app, "/api/v1/services", method="POST") == "mapservice_primary_unused"
    assert (
        bound_database(replica_app, "/api/v1/services/1", headers={"Authorization": "Bearer x"})
        == "mapservice_primary_unused"
    )
    assert bound_database(replica_app, "/dashboard", headers={"Cookie": "session=abc"}) == "mapservice_primary_unused"


def test_read_engine_is_autocommit_and_read_only(app):
    with app.app_context():
        engine = db.engines["replica"]
        with engine.connect() as conn:
            assert conn.connection.dbapi_connection.autocommit is True
            assert conn.execute(text("SELECT count(*) FROM category")).scalar() > 0
            with pytest.raises(DBAPIError, match="read-only"):
                conn.execute(text("CREATE TABLE should_not_exist (x int)"))


def test_a_forked_worker_opens_its_own_connections():
    """gunicorn's preload_app: a worker forked after the master used a connection must
    not share that connection's socket, and must not close it for the master."""
    from mapservice.config import normalize_database_url
    from mapservice.db_routing import release_inherited_connections
    from tests.conftest import TEST_DATABASE_URL

    forked_app = create_app(
        {"TESTING": True, "SECRET_KEY": "fork-test-secret", "SQLALCHEMY_DATABASE_URI": normalize_database_url(TEST_DATABASE_URL)}
    )
    backend_pid = text("SELECT pg_backend_pid()")
    with forked_app.app_context():
        engine = db.engine
        with engine.connect() as conn:
            parent_backend = conn.execute(backend_pid).scalar()
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # the worker
            try:
                os.close(read)
                release_inherited_connections(forked_app)
                with db.engine.connect() as conn:
                    os.write(write, str(conn.execute(backend_pid).scalar()).encode())
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read) as pipe:
            child_backend = int(pipe.read())
        os.waitpid(child, 0)
        with engine.connect() as conn:  # the master's pooled connection, still its own
            assert conn.execute(backend_pid).scalar() == parent_backend
        engine.dispose()
    assert child_backend != parent_backend
