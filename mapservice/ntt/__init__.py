"""Coverage dashboard for National Technical Teams (NTT viewers of a country, and admins)."""
from flask import Blueprint

bp = Blueprint("coverage", __name__, url_prefix="/coverage")

from mapservice.ntt import views  # noqa: E402,F401  (registers routes)
