"""The append-only history of services: the snapshot every write compares, and the actor."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

# One JSON document per service in the listing-CSV shape (plus status): what the history
# compares.  The exact point is included: the history is private to the organization and admins.
# The fields of service ``s`` at its first location ``l``, as (key, SQL expression):
SNAPSHOT_FIELDS = (
    ("external_id", "s.external_id"), ("service_name", "s.name"), ("description", "s.description"),
    ("categories", "to_jsonb(s.categories)"), ("populations", "to_jsonb(s.populations)"),
    ("languages", "to_jsonb(s.languages)"), ("country", "l.declared_country"), ("address", "l.address"),
    ("latitude", "round(ST_Y(l.geom)::numeric, 6)"), ("longitude", "round(ST_X(l.geom)::numeric, 6)"),
    ("phone", "s.phone"), ("whatsapp", "s.whatsapp"), ("email", "s.email"), ("website", "s.website"),
    ("hours", "s.hours"), ("free", "s.free"), ("confidential", "s.confidential"), ("status", "s.status"),
    ("last_verified", "s.last_verified"),
)  # fmt: skip
SNAPSHOT_DOC = "jsonb_build_object(" + ", ".join(f"'{key}', {sql}" for key, sql in SNAPSHOT_FIELDS) + ")"

SNAPSHOT_SQL = f"""
    SELECT s.id, s.organization_id, s.version, s.status, {SNAPSHOT_DOC} AS doc
      FROM service s
      LEFT JOIN LATERAL (
        SELECT l.* FROM service_at_location sal JOIN location l ON l.id = sal.location_id
         WHERE sal.service_id = s.id ORDER BY sal.id LIMIT 1) l ON true
"""


@dataclass(frozen=True)
class Actor:
    """Who writes: a user (or the command line) and through what."""

    user_id: int | None
    label: str
    via: str  # api | dashboard | import | cli



COMMAND_LINE = Actor(None, "command line", "import")


def service_history(session: Session, service_id: int) -> list[dict[str, Any]]:
    """Every recorded change of a service, newest first."""
    rows = session.execute(
        text(
            "SELECT h.id, h.at, h.action, h.actor, h.via, h.changes, h.version, u.email AS user_email "
            "FROM service_history h LEFT JOIN app_user u ON u.id = h.user_id "
            "WHERE h.service_id = :id ORDER BY h.at DESC, h.id DESC"
        ),
        {"id": service_id},
    ).mappings()
    return [dict(r) for r in rows]
