"""Configuration read from the environment (see the README's table)."""
from __future__ import annotations

import os
import secrets
import warnings

from mapservice.security import parse_proxy_fix

# Public maps draw the app's own outline basemap unless MAPSERVICE_TILES_URL names a tile
# server: a visitor's browser would ask that server for the area around them.  Staff pages
# (a CSO placing a service, an NTT officer) get street tiles by default.
DEFAULT_STAFF_TILES_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
# Most tile servers draw OpenStreetMap data; MAPSERVICE_(STAFF_)TILES_ATTRIBUTION says otherwise.
DEFAULT_TILES_ATTRIBUTION = "&copy; OpenStreetMap contributors"
# Where "Quick exit" sends a visitor: a neutral page that says nothing about this site.
DEFAULT_QUICK_EXIT_URL = "https://www.google.com/search?q=clima"


def config_from_env(environ: dict[str, str] | None = None, *, secret_key: str | None = None) -> dict[str, object]:
    """Build the Flask config mapping from environment variables.

    ``secret_key`` is a key the caller already has (tests), which silences the warning.
    """
    env = os.environ if environ is None else environ
    mode = env.get("MAPSERVICE_ENV", "development")
    secret = secret_key or env.get("SECRET_KEY")
    if not secret and mode != "production":
        # In production a missing key is refused by mapservice.security with the other checks.
        warnings.warn(
            "SECRET_KEY is not set: using a random key for this process only "
            "(sessions end when it restarts)",
            stacklevel=2,
        )
        secret = secrets.token_urlsafe(32)
    redis_url = env.get("REDIS_URL")
    return {
        "MAPSERVICE_ENV": mode,
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": normalize_database_url(
            env.get("DATABASE_URL", "postgresql:///mapservice")
        ),
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "pool_pre_ping": True,
            "pool_size": int(env.get("MAPSERVICE_POOL_SIZE", "5")),
            "pool_timeout": 10,
            "connect_args": {
                "connect_timeout": 5,
                "application_name": "mapservice",
                # jit=off: PostgreSQL's JIT compiles for a second or more whenever a plan's cost
                # estimate is high (lateral KNN joins are), far longer than these queries run.
                # A statement that runs away, or a transaction left idle, cannot hold a worker
                # (and its locks) for ever; MAPSERVICE_STATEMENT_TIMEOUT_MS=0 turns the limit off.
                "options": "-c jit=off"
                f" -c statement_timeout={int(env.get('MAPSERVICE_STATEMENT_TIMEOUT_MS', '30000'))}"
                " -c idle_in_transaction_session_timeout=60000",
                "keepalives": 1,
                "keepalives_idle": 30,
            },
        },
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        # Public anonymous GETs read here (mapservice/db_routing.py); unset: the primary.
        "DATABASE_REPLICA_URL": normalize_database_url(env["DATABASE_REPLICA_URL"])
        if env.get("DATABASE_REPLICA_URL")
        else None,
        "READ_STATEMENT_TIMEOUT_MS": int(env.get("MAPSERVICE_READ_STATEMENT_TIMEOUT_MS", "10000")),
        "TILES_URL": env.get("MAPSERVICE_TILES_URL", ""),
        "TILES_ATTRIBUTION": env.get("MAPSERVICE_TILES_ATTRIBUTION", DEFAULT_TILES_ATTRIBUTION),
        "STAFF_TILES_URL": env.get("MAPSERVICE_STAFF_TILES_URL", DEFAULT_STAFF_TILES_URL),
        "STAFF_TILES_ATTRIBUTION": env.get("MAPSERVICE_STAFF_TILES_ATTRIBUTION", DEFAULT_TILES_ATTRIBUTION),
        "QUICK_EXIT_URL": env.get("MAPSERVICE_QUICK_EXIT_URL", DEFAULT_QUICK_EXIT_URL),
        "REDIS_URL": redis_url,
        # Clusters of a large box (the country-wide map) are kept this long (mapservice/shared_cache.py).
        "CLUSTERS_CACHE_SECONDS": int(env.get("MAPSERVICE_CLUSTERS_CACHE_SECONDS", "60")),
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        # X-RateLimit-* headers cost two more round trips to the store per request, so
        # Flask-Limiter does not write them; consumers.py adds them where they help (writes,
        # sign-in, every 429), never on the public reads that carry the load.
        "RATELIMIT_HEADERS_ENABLED": False,
        # Redis down: limits are counted in this process's memory until Redis answers again
        # (re-checked with back-off), and no storage error ever reaches a visitor.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1} if redis_url else {},
        "MAX_CONTENT_LENGTH": 8 * 1024 * 1024,
        "PROXY_FIX": parse_proxy_fix(env.get("MAPSERVICE_PROXY_FIX")),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": mode == "production",
        "BABEL_DEFAULT_LOCALE": "es",
        "LANGUAGES": ["es", "en"],
        "VERIFY_WARN_DAYS": int(env.get("MAPSERVICE_VERIFY_WARN_DAYS", "180")),
        "FEEDBACK_RETENTION_DAYS": int(env.get("MAPSERVICE_FEEDBACK_RETENTION_DAYS", "180")),
        "VERIFY_HIDE_DAYS": int(env.get("MAPSERVICE_VERIFY_HIDE_DAYS", "365")),
        "DATA_LICENSE": env.get("MAPSERVICE_DATA_LICENSE", "CC-BY-4.0"),
        "PUBLIC_RATE_LIMIT": env.get("MAPSERVICE_PUBLIC_RATE_LIMIT", "300 per minute"),
        # Should Flask-Limiter's headers be turned on again: it would overwrite every
        # response's Retry-After (a 503's too) with its window, so it writes this one instead.
        "RATELIMIT_HEADER_RETRY_AFTER": "X-RateLimit-Retry-After",
    }


def normalize_database_url(url: str) -> str:
    """Make a plain ``postgresql://`` URL use the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
