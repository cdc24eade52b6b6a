"""The public JSON API under /api (and, later, the write API)."""
from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")

from mapservice.api import coverage, directory, opendata, writes  # noqa: E402,F401  (registers routes)
