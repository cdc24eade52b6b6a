"""Sign-in, sign-out, passwords and organization registration (blueprint ``accounts``)."""
from flask import Blueprint

bp = Blueprint("accounts", __name__)

from mapservice.accounts import views  # noqa: E402,F401  (registers routes)


@bp.after_request
def account_pages_are_not_stored(response):
    """Sign-in and password pages are never cached."""
    response.headers["Cache-Control"] = "no-store"
    return response
