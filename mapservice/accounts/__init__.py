"""Sign-in, sign-out, passwords and organization registration (blueprint ``accounts``)."""
from flask import Blueprint

bp = Blueprint("accounts", __name__)

from mapservice.accounts import views  # noqa: E402,F401  (registers routes)
