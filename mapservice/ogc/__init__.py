"""OGC API – Features, Part 1 (Core, GeoJSON, HTML) under /ogc: the services layer for GIS."""
from flask import Blueprint

from mapservice.consumers import limit_public_reads

bp = Blueprint("ogc", __name__, url_prefix="/ogc")
limit_public_reads(bp)  # per-IP limit on GETs (config PUBLIC_RATE_LIMIT)

from mapservice.ogc import views  # noqa: E402,F401  (registers routes)
