"""Fixtures: one PostGIS test database per run, a transaction rolled back per test."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from flask import g, has_app_context
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy.orm import scoped_session, sessionmaker

from mapservice import create_app
from mapservice.config import normalize_database_url
from mapservice.extensions import db
from mapservice.provision import ensure_database
from mapservice.services.seed import seed_reference
from tests.pgcluster import free_port, wait_until

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql:///mapservice_test")


class FreshRequestClient(FlaskClient):
    """A test client whose every request starts with an empty ``g``.

    Requests made inside a test share the test's app context (and so its database
    connection); without this, values cached on ``g`` (the signed-in user, the CSRF token,
    the locale) would leak from one request into the next.
    """

    def open(self, *args, **kwargs):
        if has_app_context():
            g.__dict__.clear()
        return super().open(*args, **kwargs)


@pytest.fixture(scope="session")
def app():
    """The app on a fresh test database, migrated, with reference data committed."""
    ensure_database(TEST_DATABASE_URL, recreate=True)
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": normalize_database_url(TEST_DATABASE_URL),
            "RATELIMIT_STORAGE_URI": "memory://",
            "PUBLIC_RATE_LIMIT": "100000 per minute",  # tests that need the limit lower it
            "CLUSTERS_CACHE_SECONDS": 0,  # each test sees its own services; tests of the cache turn it on
        }
    )
    app.test_client_class = FreshRequestClient
    with app.app_context():
        upgrade()
        seed_reference(db.session)
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def session(app):
    """A session whose work is rolled back after the test (commits become savepoints).

    Every request made by the test client during the test shares the same connection and
    outer transaction, so it sees the test's data and leaves nothing behind.
    """
    with app.app_context():
        connection = db.engine.connect()
        transaction = connection.begin()
        original = db.session
        # A plain SQLAlchemy session: Flask-SQLAlchemy's own picks the engine by bind key
        # and would open a second connection outside the test's transaction.
        db.session = scoped_session(
            sessionmaker(bind=connection, join_transaction_mode="create_savepoint"),
            scopefunc=original.registry.scopefunc,
        )
        try:
            yield db.session
        finally:
            db.session.remove()
            db.session = original
            transaction.rollback()
            connection.close()


@pytest.fixture
def client(app, session):
    """A test client over the rolled-back session (rate-limit counters start at zero)."""
    from mapservice.extensions import limiter

    limiter.reset()
    return app.test_client()


@pytest.fixture
def login(client, session):
    """``login(role, org=..., country=...)`` signs ``client`` in as a new user and returns the user.

    The session cookie is set directly (no password check) to keep tests fast; the sign-in
    form itself is tested in tests/accounts/.
    """
    from tests.factories import make_user

    def sign_in(role: str = "cso_editor", **kwargs):
        user = make_user(session, role, **kwargs)
        session.flush()
        with client.session_transaction() as cookie:
            cookie["_user_id"] = user.get_id()
            cookie["_fresh"] = True
        return user

    return sign_in


@pytest.fixture
def cli(app, session):
    """A CLI runner over the rolled-back session."""
    return app.test_cli_runner()


@pytest.fixture
def committed_services(app):
    """Make services that are committed, so other connections (a live server) see them.

    Yields ``add(*listings) -> [service ids]``; everything added is deleted afterwards.
    Do not combine with ``session``/``client``: those run inside a rolled-back transaction.
    """
    from sqlalchemy import text

    from tests.factories import make_services

    made: list[int] = []
    organizations: set[str] = set()

    def add(*listings):
        with app.app_context():
            ids = make_services(db.session, *listings)
            db.session.commit()
        made.extend(ids)
        organizations.update(x.organization for x in listings)
        return ids

    yield add
    with app.app_context():
        params = {"ids": made, "orgs": sorted(organizations)}
        locations = db.session.execute(
            text("SELECT location_id FROM service_at_location WHERE service_id = ANY(:ids)"), params
        ).scalars().all()
        for statement in (
            "DELETE FROM service_at_location WHERE service_id = ANY(:ids)",
            "DELETE FROM service WHERE id = ANY(:ids)",
            "DELETE FROM location WHERE id = ANY(:locations)",
            "DELETE FROM organization o WHERE o.name = ANY(:orgs) "
            "AND NOT EXISTS (SELECT 1 FROM service s WHERE s.organization_id = o.id)",
        ):
            db.session.execute(text(statement), {**params, "locations": list(locations)})
        db.session.commit()
        db.session.remove()


@pytest.fixture
def live_server(app):
    """The app served over real HTTP in a background thread; yields its base URL."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def chromium():
    """One headless Debian Chromium for the module (never a downloaded browser)."""
    if shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def local_page(chromium, live_server):
    """``local_page(**context_options)`` → ``(page, outside)``: a page of a new browser
    context in which every request to another host than the live server is refused and
    listed in ``outside`` (nothing reaches the internet; the test asserts it stays empty)."""
    contexts = []

    def open_page(**options):
        context = chromium.new_context(**options)
        contexts.append(context)
        outside: list[str] = []

        def local_only(route):
            if route.request.url.startswith(live_server):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", local_only)
        return context.new_page(), outside

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def throwaway_postgres(app):
    """A private PostgreSQL cluster (never the shared server) for tests that stop, kill or
    restore a database; its database ``mapservice`` is a copy of the migrated, seeded test
    database.  ``cluster.clone("mapservice", name)`` makes a fresh copy for one test."""
    import tempfile

    from tests.pgcluster import PG_BIN, ThrowawayPostgres

    # Directly under /tmp: the postgres user cannot enter pytest's root-only temp tree.
    cluster = ThrowawayPostgres(tempfile.mkdtemp(prefix="mapservice-pg-")).init()
    try:
        cluster.psql("CREATE DATABASE mapservice")
        dump = subprocess.run([str(PG_BIN / "pg_dump"), "-Fc", "-d", TEST_DATABASE_URL],
                              check=True, capture_output=True, timeout=300).stdout  # fmt: skip
        subprocess.run([str(PG_BIN / "pg_restore"), "--no-owner", "-d", cluster.url("mapservice")],
                       input=dump, check=True, capture_output=True, timeout=300)  # fmt: skip
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="module")
def redis_server():
    """A throwaway redis-server (no persistence) on a free port; ``.stop()``/``.start()``."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")

    class Redis:
        port = free_port()
        process: subprocess.Popen | None = None

        def start(self):
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            assert wait_until(lambda: self.ping(), 10)

        def ping(self) -> bool:
            result = subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True)
            return result.stdout.strip() == "PONG"

        def keys(self) -> int:
            result = subprocess.run(["redis-cli", "-p", str(self.port), "dbsize"], capture_output=True, text=True)
            return int(result.stdout.strip() or 0)

        def stop(self):
            if self.process is not None:
                self.process.kill()
                self.process.wait(10)
                self.process = None

    redis = Redis()
    redis.start()
    yield redis
    redis.stop()
