"""Public anonymous GETs read on the read engine (replica); writes and signed-in people on the primary."""
from __future__ import annotations

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
