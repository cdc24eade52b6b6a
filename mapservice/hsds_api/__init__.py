"""Read-only Open Referral HSDS 3.0 API under /hsds: services, organizations, taxonomies and
taxonomy terms, paginated as HSDS's ``openapi.json`` describes (the ``Page`` envelope)."""
from flask import Blueprint

from mapservice.consumers import limit_public_reads

bp = Blueprint("hsds", __name__, url_prefix="/hsds")
limit_public_reads(bp)  # the same per-IP budget as /api and /ogc (config PUBLIC_RATE_LIMIT)

from mapservice.hsds_api import views  # noqa: E402,F401  (registers routes)
