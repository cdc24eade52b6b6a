"""Public, server-rendered pages (work without JavaScript)."""
from flask import Blueprint

bp = Blueprint("public", __name__)

from mapservice.public import privacy, views  # noqa: E402,F401  (registers routes)
