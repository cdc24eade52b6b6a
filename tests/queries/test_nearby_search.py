"""The nearby_search table (migration 0004) follows every change of the directory."""
from __future__ import annotations

from sqlalchemy import text

from mapservice.queries.services import NearbyFilters, nearest_services
from tests.factories import listing, make_services

TAPACHULA = (14.9056, -92.2633)


def nearby_ids(session, **filters) -> list[int]:
    return [r["id"] for r in nearest_services(session, *TAPACHULA, NearbyFilters(**filters), 10)]


def test_category_keys_cover_ancestors_without_collisions(session):
    codes = session.execute(text("SELECT code FROM category")).scalars().all()
    keys = session.execute(text("SELECT count(DISTINCT hashtext(code)) FROM category")).scalar_one()
    assert keys == len(codes)
    own, parent = session.execute(
        text("SELECT category_keys(ARRAY['protection.legal']::varchar[]), ARRAY[hashtext('protection')]")
    ).one()
    assert set(parent) <= set(own) and len(own) == 2


def test_search_rows_follow_updates_deletes_and_moves(session):
    legal, shelter = make_services(
        session,
        listing(categories=["protection.legal"], lat=14.92, lon=-92.26),
        listing(categories=["protection.shelter"], lat=14.95, lon=-92.25),
    )
    assert set(nearby_ids(session)) == {legal, shelter}
    assert nearby_ids(session, category="protection.legal") == [legal]
    assert set(nearby_ids(session, category="protection")) == {legal, shelter}

    session.execute(text("UPDATE service SET categories = '{training.language}' WHERE id = :id"), {"id": legal})
    assert nearby_ids(session, category="protection") == [shelter]
    assert nearby_ids(session, category="training") == [legal]

    session.execute(text("UPDATE service SET deleted_at = now() WHERE id = :id"), {"id": legal})
    assert nearby_ids(session) == [shelter]
    session.execute(text("UPDATE service SET deleted_at = NULL WHERE id = :id"), {"id": legal})
    assert set(nearby_ids(session)) == {legal, shelter}

    # Moving the shelter's public point next to the search point makes it the nearest.
    session.execute(
        text(
            "UPDATE location SET geom = ST_SetSRID(ST_MakePoint(-92.2634, 14.9057), 4326), "
            "public_geom = ST_SetSRID(ST_MakePoint(-92.2634, 14.9057), 4326) "
            "WHERE id = (SELECT location_id FROM service_at_location WHERE service_id = :id)"
        ),
        {"id": shelter},
    )
    assert nearby_ids(session)[0] == shelter

    session.execute(
        text("UPDATE organization SET status = 'suspended' WHERE id = (SELECT organization_id FROM service WHERE id = :id)"),
        {"id": legal},
    )
    assert nearby_ids(session) == []
    session.execute(text("DELETE FROM service WHERE id = :id"), {"id": shelter})
    assert session.execute(text("SELECT count(*) FROM nearby_search WHERE service_id = :id"), {"id": shelter}).scalar() == 0


def test_bulk_import_fills_areas_like_the_trigger(session):
    """The importer's set-based admin area / timezone fill gives what the per-row trigger gives."""
    ids = make_services(
        session,
        listing(lat=14.9056, lon=-92.2633, country="MX"),  # Tapachula, Chiapas
        listing(lat=25.6866, lon=-100.3161, country="MX"),  # Monterrey, Nuevo León
        listing(lat=9.9281, lon=-84.0907, country="CR"),  # San José
        listing(lat=17.2510, lon=-88.7590, country="BZ"),  # Belmopan
    )
    query = text(
        "SELECT l.id, l.admin_area_code, l.country_code, l.timezone FROM location l "
        "JOIN service_at_location sal ON sal.location_id = l.id WHERE sal.service_id = ANY(:ids) ORDER BY l.id"
    )
    bulk = session.execute(query, {"ids": ids}).all()
    assert all(row.admin_area_code and row.timezone for row in bulk)
    assert [row.admin_area_code[:2] for row in bulk] == ["MX", "MX", "CR", "BZ"]
    # Re-fire the trigger (UPDATE OF geom) and compare.
    session.execute(text("UPDATE location SET geom = geom WHERE id = ANY(:ids)"), {"ids": [r.id for r in bulk]})
    assert session.execute(query, {"ids": ids}).all() == bulk
