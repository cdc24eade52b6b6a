"""The public JSON API under /api (and, later, the write API)."""
from flask import Blueprint

from mapservice.consumers import limit_public_reads

bp = Blueprint("api", __name__, url_prefix="/api")
limit_public_reads(bp)  # per-IP limit on GETs (config PUBLIC_RATE_LIMIT)

from mapservice.api import basemap, clusters, coverage, directory, opendata, writes  # noqa: E402,F401  (registers routes)
