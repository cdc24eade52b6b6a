"""mapservice: a services map for people forced from their homes in Central America and Mexico."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

from mapservice.config import config_from_env


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask application; ``config`` overrides values read from the environment."""
    app = Flask(__name__)
    app.config.update(config_from_env(secret_key=(config or {}).get("SECRET_KEY")))
    if config:
        app.config.update(config)
    for register in (
        register_security,
        register_extensions,
        register_logging,
        register_blueprints,
        register_consumers,
        register_assets,
        register_errorhandlers,
        register_commands,
        register_accounts,
        register_http_cache,
        register_fast_path,
    ):
        register(app)
    return app


def register_http_cache(app: Flask) -> None:
    """Snapped canonical search URLs, ETag and short Cache-Control on public search."""
    from mapservice import http_cache

    http_cache.init_app(app)


def register_fast_path(app: Flask) -> None:
    """Plain nearby-API requests answered below Flask's per-request machinery."""
    from mapservice.fastpath import install_fast_path

    install_fast_path(app)


def register_security(app: Flask) -> None:
    """Refuse unsafe production settings; security headers, CSP nonce, body limit, ProxyFix."""
    from mapservice import security

    security.init_app(app)


def register_extensions(app: Flask) -> None:
    """Bind the bare extension instances of ``extensions.py`` to the app."""
    from mapservice import db_routing, i18n
    from mapservice.assets import configure_compression
    from mapservice.extensions import compress, db, migrate

    db_routing.init_app(app)  # the read bind must exist before db.init_app
    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()))
    configure_compression(app)
    compress.init_app(app)
    i18n.init_app(app)


def register_logging(app: Flask) -> None:
    """Log requests by path only: searchers' coordinates never reach a log."""
    from mapservice.privacy import install_private_request_logging

    install_private_request_logging(app)


def register_blueprints(app: Flask) -> None:
    """Mount the JSON API, OGC API – Features, the HSDS API and the public pages."""
    from mapservice.api import bp as api_bp
    from mapservice.hsds_api import bp as hsds_bp
    from mapservice.ogc import bp as ogc_bp
    from mapservice.maps import bp as vendor_bp
    from mapservice.ntt import bp as coverage_bp
    from mapservice.public import bp as public_bp

    app.register_blueprint(api_bp)
    app.register_blueprint(ogc_bp)
    app.register_blueprint(hsds_bp)
    app.register_blueprint(public_bp)
    app.register_blueprint(vendor_bp)
    app.register_blueprint(coverage_bp)


def register_consumers(app: Flask) -> None:
    """Open data consumers: CORS, ETag/Cache-Control/304 on the public read API."""
    from mapservice import consumers

    consumers.init_app(app)


def register_assets(app: Flask) -> None:
    """Fingerprinted static and vendored URLs with long cache lifetimes."""
    from mapservice.assets import install_assets

    install_assets(app)


def register_errorhandlers(app: Flask) -> None:
    """JSON errors under /api, friendly pages elsewhere."""
    from mapservice.errors import register_error_handlers

    register_error_handlers(app)


def register_commands(app: Flask) -> None:
    """Attach the project's CLI commands (seed, import, export…)."""
    from mapservice.cli import register_cli

    register_cli(app)


def register_accounts(app: Flask) -> None:
    """Sign-in (Flask-Login), CSRF on every form, rate limits, the account pages and dashboard."""
    from mapservice import auth
    from mapservice.accounts import bp as accounts_bp
    from mapservice.accounts.cli import tokens_cli, users_cli
    from mapservice.api import bp as api_bp
    from mapservice.dashboard import bp as dashboard_bp
    from mapservice.feedback import bp as feedback_bp
    from mapservice.feedback import days_ago
    from mapservice.extensions import csrf, limiter

    auth.init_app(app)
    csrf.init_app(app)
    csrf.exempt(api_bp)  # the write API takes bearer tokens, never the session cookie
    if limiter not in app.extensions.get("limiter", set()):
        limiter.init_app(app)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(dashboard_bp)
    app.register_blueprint(feedback_bp)
    app.add_template_filter(days_ago)
    app.cli.add_command(users_cli)
    app.cli.add_command(tokens_cli)


def _migrations_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "migrations"


logging.getLogger("werkzeug").setLevel(logging.WARNING)
