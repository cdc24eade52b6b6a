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
