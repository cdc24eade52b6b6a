"""The signed-in dashboard: an organization's own services, uploads, history, administration."""
from flask import Blueprint

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

from mapservice.dashboard import admin, views  # noqa: E402,F401  (registers routes)


@bp.after_request
def private_pages_are_not_stored(response):
    """Signed-in pages hold private data: no browser, proxy or service-worker cache keeps them."""
    response.headers["Cache-Control"] = "no-store"
    return response
