"""Factories for test data, written through the project's own import path."""
from __future__ import annotations

import itertools

from mapservice.services.importer import import_listings
from mapservice.services.listings import Listing

_counter = itertools.count(1)


def listing(**overrides) -> Listing:
    """A valid listing in Tapachula; any field can be overridden."""
    n = next(_counter)
    fields = dict(
        organization="Test Org",
        external_id=f"t-{n}",
        name=f"Service {n}",
        description="",
        categories=["protection.legal"],
        populations=[],
        languages=["es"],
        country="MX",
        address=f"Calle {n}",
        lat=14.9056,
        lon=-92.2633,
        phone=None,
        whatsapp=None,
        email=None,
        website=None,
        hours=None,
        free=True,
        confidential=False,
        line=n,
    )
    fields.update(overrides)
    return Listing(**fields)


def make_services(session, *listings: Listing) -> list[int]:
    """Insert listings (set-based import) and return their service ids in order."""
    import_listings(session, list(listings))
    from sqlalchemy import text

    ids = []
    for x in listings:
        ids.append(
            session.execute(
                text(
                    "SELECT s.id FROM service s JOIN organization o ON o.id = s.organization_id "
                    "WHERE o.name = :org AND s.external_id = :ext"
                ),
                {"org": x.organization, "ext": x.external_id},
            ).scalar_one()
        )
    return ids


def insert_raw_services(session, rows) -> list[int]:
    """Insert many services fast, straight in SQL (no validation), one location each.

    ``rows`` are dicts with ``lat``, ``lon``, ``country`` and optionally ``categories``,
    ``confidential``, ``status`` ('active'/'deleted'), ``org_status`` ('approved'/'pending'),
    ``last_verified`` (a date) and ``name``.  Returns the service ids in order.  For
    property tests that need hundreds of points per example; everything else should use
    :func:`make_services`, which goes through the real import path.
    """
    from datetime import date

    from sqlalchemy import text

    ids = []
    orgs: dict[str, int] = {}
    for row in rows:
        org_status = row.get("org_status", "approved")
        if org_status not in orgs:
            orgs[org_status] = session.execute(
                text(
                    "INSERT INTO organization (name, kind, description, status, is_demo, created_at) "
                    "VALUES (:n, 'cso', '', :st, false, now()) "
                    "ON CONFLICT (name) DO UPDATE SET status = EXCLUDED.status RETURNING id"
                ),
                {"n": f"Raw org {org_status}", "st": org_status},
            ).scalar_one()
        n = next(_counter)
        service_id = session.execute(
            text(
                """
                INSERT INTO service (organization_id, external_id, name, description, categories,
                  populations, languages, confidential, status, is_demo, last_verified, version,
                  created_at, updated_at, deleted_at)
                VALUES (:org, :ext, :name, '', CAST(:cats AS varchar[]), '{}', '{es}', :conf, :status,
                  false, :verified, 1, now(), now(),
                  CASE WHEN :deleted THEN now() END)
                RETURNING id
                """
            ),
            {
                "org": orgs[org_status], "ext": f"raw-{n}", "name": row.get("name", f"Raw {n}"),
                "cats": row.get("categories", ["protection.legal"]),
                "conf": row.get("confidential", False), "status": row.get("status", "active"),
                "deleted": row.get("status") == "deleted",
                "verified": row.get("last_verified", date.today()),
            },
        ).scalar_one()  # fmt: skip
        location_id = session.execute(
            text(
                """
                INSERT INTO location (geom, public_geom, declared_country)
                SELECT g, CASE WHEN :conf THEN generalize_point(g) ELSE g END, :country
                  FROM (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g) p
                RETURNING id
                """
            ),
            {"lat": row["lat"], "lon": row["lon"], "conf": row.get("confidential", False), "country": row["country"]},
        ).scalar_one()
        session.execute(
            text("INSERT INTO service_at_location (service_id, location_id) VALUES (:s, :l)"),
            {"s": service_id, "l": location_id},
        )
        ids.append(service_id)
    return ids


def make_user(session, role: str = "cso_editor", *, org: str | None = "Test Org", country: str | None = None,
              email: str | None = None, password: str = "a long test passphrase"):  # fmt: skip
    """A user of ``role`` (an editor of ``org``, created approved if missing; a viewer of ``country``).

    Committed (a savepoint inside the test's transaction), so a request that rolls back keeps it.
    """
    from mapservice.services.accounts import create_user, get_or_create_organization

    n = next(_counter)
    organization = get_or_create_organization(session, org) if role == "cso_editor" and org else None
    if role == "ntt_viewer" and country is None:
        country = "MX"
    user = create_user(session, email or f"{role}-{n}@example.org", password, role,
                       organization=organization, country=country)  # fmt: skip
    session.commit()
    return user


def csrf_token(client, path: str) -> str:
    """The CSRF token of the form at ``path`` (GET it, read the hidden field)."""
    import re

    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"', page)
    assert match, f"no CSRF token in {path}"
    return match.group(1) or match.group(2)

