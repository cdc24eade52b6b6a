"""Static assets: fingerprinted URLs with long cache lifetimes.

``url_for('static', filename=...)`` and ``url_for('vendor.asset', package=..., filename=...)``
(Leaflet from its PyPI package, see :mod:`mapservice.maps`) get a ``v=<content hash>``
argument; a request that carries the current hash is cacheable for a year (``immutable``),
anything else is revalidated.  Pages therefore pick up a changed file on their next load.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from flask import Flask, current_app, request

ONE_YEAR = 365 * 24 * 3600
FINGERPRINTED_ENDPOINTS = ("static", "vendor.asset")


@lru_cache(maxsize=256)
def _file_hash(path: str, mtime_ns: int) -> str:
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return digest[:10]


def fingerprint(folder: Path, filename: str) -> str | None:
    """A short content hash of ``folder/filename``, or ``None`` if there is no such file."""
    try:
        path = (folder / filename).resolve()
        if not path.is_relative_to(folder.resolve()) or not path.is_file():
            return None
        return _file_hash(str(path), path.stat().st_mtime_ns)
    except (OSError, ValueError):  # NUL bytes, over-long names: not one of our files
        return None


def _folder_of(app: Flask, endpoint: str, values: dict) -> Path | None:
    if endpoint == "static":
        return Path(app.static_folder)
    from mapservice.maps import VENDOR_DIRS

    return VENDOR_DIRS.get(values.get("package", ""))


def install_assets(app: Flask) -> None:
    """Fingerprint static and vendored URLs and set their cache headers."""

    @app.url_defaults
    def add_fingerprint(endpoint, values):
        if endpoint in FINGERPRINTED_ENDPOINTS and "filename" in values and "v" not in values:
            folder = _folder_of(current_app, endpoint, values)
            version = fingerprint(folder, values["filename"]) if folder else None
            if version:
                values["v"] = version

    @app.after_request
    def cache_static(response):
        if request.endpoint not in FINGERPRINTED_ENDPOINTS or response.status_code != 200:
            return response
        view_args = request.view_args or {}
        folder = _folder_of(app, request.endpoint, view_args)
        wanted = request.args.get("v")
        if wanted and folder and wanted == fingerprint(folder, view_args.get("filename", "")):
            response.cache_control.public = True
            response.cache_control.max_age = ONE_YEAR
            response.cache_control.immutable = True
        elif request.endpoint == "static":
            # Unversioned or stale: short, revalidated.
            response.cache_control.public = True
            response.cache_control.max_age = 3600
            response.cache_control.immutable = False
        return response
