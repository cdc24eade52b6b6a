"""Read queries of the signed-in dashboard (an organization's own services, its feedback).

These are private views for the organization's editors and administrators: they may show
the exact point and address of the organization's own confidential services.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

OWN_COLUMNS = """
    s.id, s.external_id, s.name, s.description, s.organization_id, o.name AS organization_name,
    o.status AS organization_status, s.categories, s.populations, s.languages, s.phone, s.whatsapp,
    s.email, s.website, s.hours, s.free, s.confidential, s.status, s.deleted_at, s.last_verified,
    s.version, s.updated_at, s.is_demo,
    ST_Y(l.geom) AS lat, ST_X(l.geom) AS lon, ST_Y(l.public_geom) AS public_lat,
    ST_X(l.public_geom) AS public_lon, l.address, l.declared_country AS country,
    (SELECT count(*) FROM feedback f WHERE f.service_id = s.id AND f.state = 'open') AS open_feedback
"""

OWN_JOINS = """
    service s
    JOIN organization o ON o.id = s.organization_id
    LEFT JOIN LATERAL (
      SELECT l.* FROM service_at_location sal JOIN location l ON l.id = sal.location_id
       WHERE sal.service_id = s.id ORDER BY sal.id LIMIT 1) l ON true
"""


def organization_services(session: Session, organization_id: int, *, warn_after_days: int,
                          today: date | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Every service of an organization (deleted ones last), what needs attention first.

    Each row has ``stale``: not confirmed for ``warn_after_days`` days.
    """
    since = (today or date.today()) - timedelta(days=warn_after_days)
    rows = session.execute(
        text(
            f"""
            SELECT {OWN_COLUMNS},
                   (s.last_verified IS NULL OR s.last_verified < :since) AS stale
              FROM {OWN_JOINS}
             WHERE s.organization_id = :org
             ORDER BY (s.status <> 'active'), open_feedback DESC,
                      (s.last_verified IS NULL OR s.last_verified < :since) DESC,
                      s.last_verified NULLS FIRST, s.name, s.id
            """
        ),
        {"org": organization_id, "since": since},
    ).mappings()
    return [dict(r) for r in rows]


def own_service(session: Session, service_id: int) -> dict[str, Any] | None:
    """One service with its exact location (any status), or ``None``."""
    row = session.execute(
        text(f"SELECT {OWN_COLUMNS} FROM {OWN_JOINS} WHERE s.id = :id"), {"id": service_id}
    ).mappings().first()
    return dict(row) if row else None


def country_names(session: Session, locale: str) -> dict[str, str]:
    """The MIRPS countries' names in ``locale``, by code, sorted by name."""
    column = "name_en" if locale == "en" else "name_es"
    rows = session.execute(text(f"SELECT code, {column} FROM country ORDER BY {column}")).all()
    return {code: name for code, name in rows}


def admin_counts(session: Session) -> dict[str, int]:
    """What waits for the Technical Secretariat: pending organizations, deleted services, open feedback."""
    row = session.execute(
        text(
            "SELECT (SELECT count(*) FROM organization WHERE status = 'pending') AS pending, "
            "(SELECT count(*) FROM service WHERE status = 'deleted') AS deleted, "
            "(SELECT count(*) FROM feedback WHERE state = 'open') AS feedback"
        )
    ).mappings().one()
    return dict(row)


def organizations(session: Session) -> list[dict[str, Any]]:
    """Every organization, pending first, with its editors' e-mails and service count."""
    rows = session.execute(
        text(
            """
            SELECT o.id, o.name, o.kind, o.country_code, o.contact_name, o.email, o.status, o.is_demo,
                   o.created_at,
                   (SELECT count(*) FROM service s WHERE s.organization_id = o.id AND s.status = 'active') AS services,
                   (SELECT string_agg(u.email, ', ' ORDER BY u.email) FROM app_user u WHERE u.organization_id = o.id) AS editors
              FROM organization o
             ORDER BY (o.status = 'pending') DESC, o.is_demo, o.name
            """
        )
    ).mappings()
    return [dict(r) for r in rows]


def deleted_services(session: Session) -> list[dict[str, Any]]:
    """Soft-deleted services of every organization, most recent first."""
    rows = session.execute(
        text(
            "SELECT s.id, s.name, s.version, s.deleted_at, o.name AS organization_name FROM service s "
            "JOIN organization o ON o.id = s.organization_id WHERE s.status = 'deleted' "
            "ORDER BY s.deleted_at DESC NULLS LAST, s.id"
        )
    ).mappings()
    return [dict(r) for r in rows]


def feedback_for(session: Session, organization_id: int | None) -> list[dict[str, Any]]:
    """Public problem reports (of one organization, or all for ``None``), open ones first."""
    rows = session.execute(
        text(
            """
            SELECT f.id, f.kind, f.message, f.state, f.created_at, f.handled_at, s.id AS service_id,
                   s.name AS service_name, o.name AS organization_name
              FROM feedback f JOIN service s ON s.id = f.service_id JOIN organization o ON o.id = s.organization_id
             WHERE CAST(:org AS int) IS NULL OR s.organization_id = :org
             ORDER BY (f.state = 'open') DESC, f.created_at DESC
             LIMIT 500
            """
        ),
        {"org": organization_id},
    ).mappings()
    return [dict(r) for r in rows]
