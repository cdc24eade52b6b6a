"""The signed-in dashboard: an organization's own services, uploads, history, administration."""
from flask import Blueprint

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

from mapservice.dashboard import admin, views  # noqa: E402,F401  (registers routes)
