"""OGC API – Features, Part 1 (Core, GeoJSON, HTML) under /ogc: the services layer for GIS."""
from flask import Blueprint

bp = Blueprint("ogc", __name__, url_prefix="/ogc")

from mapservice.ogc import views  # noqa: E402,F401  (registers routes)
