"""Static assets: fingerprinted URLs with long cache lifetimes, served pre-compressed.

``url_for('static', filename=...)`` and ``url_for('vendor.asset', package=..., filename=...)``
(Leaflet from its PyPI package, see :mod:`mapservice.maps`) get a ``v=<content hash>``
argument; a request that carries the current hash is cacheable for a year (``immutable``),
anything else is revalidated.  Pages therefore pick up a changed file on their next load.

Compression: pages and JSON are compressed per response by Flask-Compress (brotli, else
gzip; :data:`COMPRESSION_SETTINGS`).  Static and vendored text files (CSS, JavaScript, SVG,
the service worker) are compressed once per file and encoding at the strongest settings
(brotli 11, gzip 9, made in the background: :func:`compressed_file`) and kept in memory, so
phones get the smallest file for no CPU per request, also a browser that offers only gzip.
"""
from __future__ import annotations

import gzip
import hashlib
import threading
from functools import lru_cache
from pathlib import Path

import brotli
from flask import Flask, Response, current_app, request

ONE_YEAR = 365 * 24 * 3600
FINGERPRINTED_ENDPOINTS = ("static", "vendor.asset")
# Endpoints that send one file of the static or a vendored folder, compressed ahead of time.
FILE_ENDPOINTS = {"static", "vendor.asset", "public.service_worker"}
PRECOMPRESSED_TYPES = frozenset(
    {"text/css", "text/javascript", "application/javascript", "image/svg+xml", "application/json", "text/plain"}
)
MIN_COMPRESSED_BYTES = 500
# Flask-Compress, per response: brotli first (smaller than zstd or gzip for text), else gzip,
# for the types the app sends (its GeoJSON, OpenAPI and CSV answers included).
COMPRESSION_SETTINGS = {
    "COMPRESS_ALGORITHM": ["br", "gzip"],
    "COMPRESS_ALGORITHM_STREAMING": ["br", "gzip"],
    "COMPRESS_BR_LEVEL": 5,
    "COMPRESS_MIMETYPES": [
        "text/html", "text/css", "text/javascript", "application/javascript", "text/plain", "text/csv",
        "text/xml", "application/xml", "application/json", "application/geo+json",
        "application/vnd.oai.openapi+json", "application/problem+json", "image/svg+xml",
    ],
}  # fmt: skip


def configure_compression(app: Flask) -> None:
    """Set the compression defaults before ``compress.init_app``; the app's own config wins."""
    for key, value in COMPRESSION_SETTINGS.items():
        app.config.setdefault(key, value)


_strong_bodies: dict[tuple[str, int, str], bytes] = {}
_strong_pending: set[tuple[str, int, str]] = set()
_strong_lock = threading.Lock()


def _compress(data: bytes, encoding: str, *, strong: bool) -> bytes:
    if encoding == "br":
        return brotli.compress(data, quality=11 if strong else 5)
    return gzip.compress(data, compresslevel=9 if strong else 6, mtime=0)


def _make_strong(key: tuple[str, int, str]) -> None:
    path, _mtime_ns, encoding = key
    try:
        _strong_bodies[key] = _compress(Path(path).read_bytes(), encoding, strong=True)
    finally:
        with _strong_lock:
            _strong_pending.discard(key)


def compressed_file(path: Path, encoding: str) -> bytes:
    """The file compressed with ``encoding`` (``br`` or ``gzip``).

    The strongest form (brotli 11: Leaflet in 37 kB instead of 41 kB at brotli 5, but 0.8 s
    of CPU) is made once per file in a background thread (brotli and zlib release the GIL)
    and kept in memory; until it is ready a request gets a fast form (brotli 5 / gzip 6),
    so no visitor waits for it.  Both decode to the same file (one weak ETag).
    """
    key = (str(path), path.stat().st_mtime_ns, encoding)
    body = _strong_bodies.get(key)
    if body is not None:
        return body
    with _strong_lock:
        start = key not in _strong_pending
        _strong_pending.add(key)
    if start:
        threading.Thread(target=_make_strong, args=(key,), name="compress-static", daemon=True).start()
    return _compress(path.read_bytes(), encoding, strong=False)


def wanted_encoding() -> str | None:
    """``br`` or ``gzip``, whichever the client accepts and prefers (brotli on a tie)."""
    accepted = request.accept_encodings
    br, gz = accepted.quality("br"), accepted.quality("gzip")
    if br > 0 and br >= gz:
        return "br"
    return "gzip" if gz > 0 else None


def _served_file(app: Flask) -> Path | None:
    if request.endpoint == "public.service_worker":
        return Path(app.static_folder) / "sw.js"
    view_args = request.view_args or {}
    folder = _folder_of(app, request.endpoint, view_args)
    if folder is None or "filename" not in view_args:
        return None
    return folder / view_args["filename"]


def precompressed(app: Flask, response: Response) -> Response:
    """A static or vendored text file's response with the body replaced by its brotli or gzip
    form (``Content-Encoding``, ``Vary``, a weak per-encoding ``ETag``, 304 on a match)."""
    if (
        request.endpoint not in FILE_ENDPOINTS
        or request.method not in ("GET", "HEAD")
        or response.status_code != 200
        or response.mimetype not in PRECOMPRESSED_TYPES
        or "Content-Encoding" in response.headers
    ):
        return response
    response.vary.add("Accept-Encoding")
    encoding = wanted_encoding()
    path = _served_file(app)
    if encoding is None or path is None or not path.is_file() or path.stat().st_size < MIN_COMPRESSED_BYTES:
        return response
    body = compressed_file(path, encoding)
    response.close()  # the open file send_file would have streamed
    response.direct_passthrough = False
    response.set_data(body)
    response.headers["Content-Encoding"] = encoding
    response.headers.pop("Accept-Ranges", None)  # byte ranges would be of the plain file
    # Weak: the fast and the strongest brotli of a file are the same content, other bytes.
    response.set_etag(f"{_file_hash(str(path), path.stat().st_mtime_ns)}-{encoding}", weak=True)
    return response.make_conditional(request)


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
    def compress_static(response):
        return precompressed(app, response)

    @app.after_request
    def cache_static(response):
        if request.endpoint not in FINGERPRINTED_ENDPOINTS or response.status_code != 200:
            return response
        view_args = request.view_args or {}
        folder = _folder_of(app, request.endpoint, view_args)
        wanted = request.args.get("v")
        if wanted and folder and wanted == fingerprint(folder, view_args.get("filename", "")):
            response.cache_control.no_cache = None  # send_file's default: it would revalidate every time
            response.cache_control.public = True
            response.cache_control.max_age = ONE_YEAR
            response.cache_control.immutable = True
        elif request.endpoint == "static":
            # Unversioned or stale: short, revalidated.
            response.cache_control.public = True
            response.cache_control.max_age = 3600
            response.cache_control.immutable = False
        return response
