"""Hardened defaults: production start-up checks, security headers with a per-request CSP
nonce, request-size limits and an optional ``ProxyFix`` for deployment behind a proxy.

Production refusals (``MAPSERVICE_ENV=production``), each with its own message:

* ``SECRET_KEY`` missing, shorter than 32 characters, with fewer than 10 distinct
  characters, or one of the well-known placeholder values (``changeme``, ``secret`` …).
* Debug mode on (``FLASK_DEBUG=1``, ``flask run --debug`` or ``DEBUG=True``).
* An insecure ``DATABASE_URL``.  A URL is insecure when its host is *remote* (not a Unix
  socket, not ``localhost``, not a loopback address) and either
  - ``sslmode`` is not ``require``, ``verify-ca`` or ``verify-full`` (libpq's default,
    ``prefer``, silently falls back to plain text, so a missing ``sslmode`` is refused too), or
  - nothing authenticates the client: no password in the URL, no client certificate
    (``sslcert``), no ``PGPASSWORD``/``PGPASSFILE`` and no ``~/.pgpass``.
  A local database (Unix socket or loopback) is not refused: it never crosses a network.
"""
from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, has_request_context, request
from flask.json.provider import DefaultJSONProvider
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

MIN_SECRET_LENGTH = 32
MIN_SECRET_DISTINCT = 10
WEAK_SECRETS = frozenset(
    {
        "changeme", "change-me", "change_me", "changethis", "secret", "secret-key", "secret_key",
        "secretkey", "mysecret", "supersecret", "dev", "development", "test", "test-secret",
        "testing", "password", "mapservice", "flask", "default", "your-secret-key",
        "your_secret_key", "replace-me", "please-change-me", "insecure", "notsecret",
    }
)  # fmt: skip
SECURE_SSLMODES = frozenset({"require", "verify-ca", "verify-full"})
LOCAL_HOSTNAMES = frozenset({"", "localhost", "localhost.localdomain"})


class InsecureConfiguration(RuntimeError):
    """The app refuses to start in production; ``problems`` holds one message per setting."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "refusing to start with MAPSERVICE_ENV=production:\n" + "\n".join(f"  - {p}" for p in problems)
        )


def secret_key_problem(secret: object) -> str | None:
    """Why ``secret`` is not a real signing key, or ``None`` when it is fine."""
    if not secret:
        return "SECRET_KEY is not set; generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
    if isinstance(secret, bytes):
        secret = secret.decode("latin-1")
    value = str(secret)
    if value.strip().lower() in WEAK_SECRETS:
        return "SECRET_KEY is a well-known placeholder value; generate a random one"
    if len(value) < MIN_SECRET_LENGTH:
        return f"SECRET_KEY is too short ({len(value)} characters; at least {MIN_SECRET_LENGTH} are needed)"
    if len(set(value)) < MIN_SECRET_DISTINCT:
        return "SECRET_KEY is not random enough (too few distinct characters); generate a random one"
    return None


def _is_local_host(host: str) -> bool:
    host = host.strip().strip("[]")
    if host.lower() in LOCAL_HOSTNAMES or host.startswith("/"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _has_passfile(environ: Mapping[str, str]) -> bool:
    passfile = environ.get("PGPASSFILE")
    if passfile:
        return Path(passfile).is_file()
    return (Path.home() / ".pgpass").is_file()


def database_url_problem(url: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Why ``url`` is an insecure database URL for production, or ``None`` (see module doc)."""
    env = os.environ if environ is None else environ
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "DATABASE_URL is not a valid database URL"
    query = {k: (v[-1] if isinstance(v, tuple) else v) for k, v in parsed.query.items()}
    # libpq accepts the host as a query parameter too (postgresql:///db?host=/run/postgresql).
    hosts = [h for h in (parsed.host or "", str(query.get("host", ""))) if h] or [""]
    hosts = [h for part in hosts for h in part.split(",")]
    remote = [h for h in hosts if not _is_local_host(h)]
    if not remote:
        return None
    shown = ", ".join(remote)
    sslmode = str(query.get("sslmode", env.get("PGSSLMODE", ""))).lower()
    if sslmode not in SECURE_SSLMODES:
        return (
            f"DATABASE_URL connects to the remote host {shown} without TLS "
            f"(sslmode={sslmode or 'unset, i.e. prefer'}); add ?sslmode=verify-full "
            "(or require) to the URL"
        )
    authenticated = (
        parsed.password
        or query.get("password")
        or query.get("sslcert")
        or env.get("PGPASSWORD")
        or _has_passfile(env)
    )
    if not authenticated:
        return (
            f"DATABASE_URL connects to the remote host {shown} without a password or client "
            "certificate; set one (in the URL, PGPASSWORD, ~/.pgpass or sslcert=)"
        )
    return None


def production_problems(config: Mapping[str, object], environ: Mapping[str, str] | None = None) -> list[str]:
    """Every reason the configuration is unsafe for production (empty when it is fine)."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    if (problem := secret_key_problem(config.get("SECRET_KEY"))) is not None:
        problems.append(problem)
    debug_env = str(env.get("FLASK_DEBUG", "")).lower() not in ("", "0", "false", "no")
    if config.get("DEBUG") or debug_env:
        problems.append(
            "debug mode is on (FLASK_DEBUG or --debug): it shows stack traces and can run code; turn it off"
        )
    if (problem := database_url_problem(str(config.get("SQLALCHEMY_DATABASE_URI", "")), env)) is not None:
        problems.append(problem)
    return problems


def check_production_config(app: Flask) -> None:
    """Raise :class:`InsecureConfiguration` when production runs with an unsafe setting."""
    if app.config.get("MAPSERVICE_ENV") != "production":
        return
    problems = production_problems(app.config)
    if app.debug and not any(p.startswith("debug mode") for p in problems):
        problems.append("debug mode is on: it shows stack traces and can run code; turn it off")
    if problems:
        raise InsecureConfiguration(problems)


NONCE_KEY = "mapservice.csp_nonce"


def csp_nonce() -> str:
    """The CSP nonce of the current request: put it on every inline ``<script nonce=…>``."""
    # Kept in the WSGI environ, not ``g``: an app context (and its ``g``) can outlive a request.
    environ = request.environ
    if NONCE_KEY not in environ:
        environ[NONCE_KEY] = secrets.token_urlsafe(18)
    return environ[NONCE_KEY]


# Signed-in staff pages: their maps may use STAFF_TILES_URL (street tiles to place a service).
STAFF_BLUEPRINTS = frozenset({"dashboard", "coverage"})


def map_tiles() -> tuple[str, str]:
    """The tile URL template and attribution of this request's maps.

    Staff pages (the CSO dashboard, the NTT coverage pages) use ``STAFF_TILES_URL``; every
    other page ``TILES_URL``, empty by default: public maps draw the outline basemap
    (``/api/v1/basemap``) and make no request to another site.  Empty: no tiles.
    """
    config = current_app.config
    if has_request_context() and request.blueprint in STAFF_BLUEPRINTS:
        return config.get("STAFF_TILES_URL", ""), config.get("STAFF_TILES_ATTRIBUTION", "")
    return config.get("TILES_URL", ""), config.get("TILES_ATTRIBUTION", "")


def tile_source(tiles_url: str) -> str | None:
    """The CSP source expression for a Leaflet tile URL template (``None`` for same-origin).

    ``https://{s}.tile.example.org/{z}/{x}/{y}.png`` becomes ``https://*.tile.example.org``.
    """
    parts = urlsplit(tiles_url or "")
    if not parts.scheme or not parts.netloc:
        return None
    host = parts.netloc.rsplit("@", 1)[-1]
    labels = host.split(".")
    if labels and "{" in labels[0]:
        labels[0] = "*"
    host = ".".join(labels)
    if "{" in host or "}" in host:
        # A placeholder anywhere but the first label cannot be expressed in CSP.
        return None
    return f"{parts.scheme}://{host}"


def content_security_policy(nonce: str, tiles_url: str) -> str:
    """The Content-Security-Policy of every response.

    Scripts run only from our origin or with this request's nonce (no ``unsafe-inline``).
    Styles allow ``unsafe-inline``: Folium writes ``<style>`` blocks and ``style=""``
    attributes that a nonce cannot cover, and inline CSS cannot run code; markup injection
    is already prevented by autoescaping.
    """
    # data: for Leaflet's blank image on unloaded tiles (an image cannot run code).
    img = ["'self'", "data:"]
    if (tiles := tile_source(tiles_url)) is not None:
        img.append(tiles)
    directives = {
        "default-src": "'self'",
        "script-src": f"'self' 'nonce-{nonce}'",
        "style-src": "'self' 'unsafe-inline'",
        "img-src": " ".join(img),
        "font-src": "'self'",
        "connect-src": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
        "base-uri": "'none'",
        "object-src": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "geolocation=(self), camera=(), microphone=(), interest-cohort=()",
}
HSTS = "max-age=31536000; includeSubDomains"


def add_security_headers(response):
    """after_request: CSP with this request's nonce, nosniff, no referrer, HSTS over HTTPS.

    A header a view set itself is kept.
    """
    headers = response.headers
    headers.setdefault(
        "Content-Security-Policy", content_security_policy(csp_nonce(), map_tiles()[0])
    )
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def refuse_oversized_body():
    """before_request: a declared body over MAX_CONTENT_LENGTH gets 413 before it is read."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and request.content_length is not None and request.content_length > limit:
        abort(413, description=f"the request body is larger than {limit // (1024 * 1024)} MB")


def parse_proxy_fix(value: str | None) -> dict[str, int] | None:
    """``MAPSERVICE_PROXY_FIX``: empty/0 off; ``N`` trusts N proxies for X-Forwarded-For,
    -Proto, -Host and -Port; or explicit ``for=1,proto=1,host=1,port=0,prefix=0``."""
    if value is None or value.strip() in ("", "0"):
        return None
    value = value.strip()
    if value.isdigit():
        hops = int(value)
        return {"x_for": hops, "x_proto": hops, "x_host": hops, "x_port": hops, "x_prefix": 0}
    counts = {"x_for": 0, "x_proto": 0, "x_host": 0, "x_port": 0, "x_prefix": 0}
    for item in value.split(","):
        name, _, number = item.partition("=")
        key = "x_" + name.strip().lower()
        if key not in counts or not number.strip().isdigit():
            raise ValueError(
                f"MAPSERVICE_PROXY_FIX: cannot read {item.strip()!r}; use a number of proxies (1) "
                "or for=N,proto=N,host=N,port=N,prefix=N"
            )
        counts[key] = int(number)
    return counts


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _check_strings(value: object) -> None:
    """Raise ValueError for NUL characters or lone surrogates anywhere in a decoded body."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ValueError("the body contains a NUL character")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("the body contains an unpaired UTF-16 surrogate") from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


_SUSPECT_ESCAPE_RE = re.compile(r"\\u(?:0000|[dD][89abcdefABCDEF])")


class HardenedJSONProvider(DefaultJSONProvider):
    """Flask's JSON with hostile bodies turned into ValueError (so a 400, never a 500).

    Refused: nesting deep enough to exhaust the parser's recursion, ``NaN``/``Infinity``
    (not JSON), NUL characters (PostgreSQL text cannot hold them) and unpaired surrogates
    (not encodable as UTF-8).
    """

    def loads(self, s: str | bytes, **kwargs):
        """Parse ``s`` like :func:`json.loads`, raising ValueError for hostile input."""
        kwargs.setdefault("parse_constant", _refuse_constant)
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("the JSON body is nested too deeply") from None
        text = s.decode("utf-8", "replace") if isinstance(s, (bytes, bytearray)) else s
        if _SUSPECT_ESCAPE_RE.search(text) or "\x00" in text:
            _check_strings(value)
        return value


def init_app(app: Flask) -> None:
    """Check production settings, then install the headers, the size limit and ProxyFix."""
    check_production_config(app)
    app.json = HardenedJSONProvider(app)
    app.add_template_global(csp_nonce)
    app.add_template_global(map_tiles)
    app.before_request(refuse_oversized_body)
    app.after_request(add_security_headers)
    proxy = app.config.get("PROXY_FIX")
    if proxy:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, **proxy)  # type: ignore[method-assign]
