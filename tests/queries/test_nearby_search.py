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


# Each row's public JSON document (migration 0010), as the directory says it is now.
FRESH_DOCS = """
    SELECT sal.id,
           nearby_search_doc_head(s.id, s.name, o.id, o.name, s.categories),
           nearby_search_doc_tail(l.public_geom, s.confidential, l.address, s.phone, s.whatsapp, s.email,
                                  s.website, s.languages, s.populations, s.free, s.hours, s.last_verified,
                                  s.description, l.declared_country, s.is_demo OR o.is_demo)
      FROM service s JOIN organization o ON o.id = s.organization_id
      JOIN service_at_location sal ON sal.service_id = s.id JOIN location l ON l.id = sal.location_id
     WHERE s.status = 'active' AND s.deleted_at IS NULL AND o.status = 'approved' AND s.id = ANY(:ids)
     ORDER BY sal.id
"""


def stored_docs(session, ids):
    return session.execute(
        text("SELECT sal_id, doc_head, doc_tail FROM nearby_search WHERE service_id = ANY(:ids) ORDER BY sal_id"),
        {"ids": ids},
    ).all()


def assert_docs_fresh(session, ids):
    assert stored_docs(session, ids) == session.execute(text(FRESH_DOCS), {"ids": ids}).all()


def test_documents_follow_every_change_of_what_they_show(session):
    legal, hidden = ids = make_services(
        session,
        listing(organization="Doc Org", categories=["protection.legal"], lat=14.92, lon=-92.26, address="Calle 1"),
        listing(organization="Doc Org", categories=["protection.shelter"], lat=14.95, lon=-92.25, confidential=True,
                address="Calle secreta 9"),
    )
    assert_docs_fresh(session, ids)
    assert "Calle secreta" not in "".join(d.doc_head + d.doc_tail for d in stored_docs(session, ids))

    def changed(sql, expected_text, **params):
        session.execute(text(sql), {"legal": legal, "hidden": hidden, **params})
        assert_docs_fresh(session, ids)
        assert expected_text in "".join(d.doc_head + d.doc_tail for d in stored_docs(session, ids))

    changed("UPDATE service SET name = 'Asesoría \"nueva\"', phone = '+525555555555' WHERE id = :legal",
            '"name" : "Asesoría \\"nueva\\""')  # fmt: skip
    changed("UPDATE organization SET name = 'Org renombrada' WHERE id = (SELECT organization_id FROM service "
            "WHERE id = :legal)", '"name" : "Org renombrada"')  # fmt: skip
    changed("UPDATE organization SET is_demo = true WHERE name = 'Org renombrada'", '"demo" : true')
    # An address is part of the document: a location write that changes nothing else refreshes it.
    changed("UPDATE location SET address = 'Avenida 5' WHERE id = (SELECT location_id FROM service_at_location "
            "WHERE service_id = :legal)", '"address" : "Avenida 5"')  # fmt: skip
    changed("UPDATE location SET public_geom = ST_SetSRID(ST_MakePoint(-92.2, 14.9), 4326) WHERE id = "
            "(SELECT location_id FROM service_at_location WHERE service_id = :legal)", '"lon" : -92.2,')  # fmt: skip
    changed("UPDATE service SET last_verified = DATE '2026-01-02' WHERE id = :hidden", '"last_verified" : "2026-01-02"')
    # A second location for a service: its own row and document.
    changed("WITH l AS (INSERT INTO location (geom, public_geom, address, declared_country) "
            "VALUES (ST_SetSRID(ST_MakePoint(-92.1, 14.8), 4326), ST_SetSRID(ST_MakePoint(-92.1, 14.8), 4326), "
            "'Otra sede', 'MX') RETURNING id) INSERT INTO service_at_location (service_id, location_id) "
            "SELECT :legal, id FROM l", '"address" : "Otra sede"')  # fmt: skip
    assert len(stored_docs(session, ids)) == 3

    session.execute(text("UPDATE organization SET status = 'suspended' WHERE name = 'Org renombrada'"))
    assert stored_docs(session, ids) == []
    session.execute(text("UPDATE organization SET status = 'approved', name = 'De vuelta' WHERE name = 'Org renombrada'"))
    assert_docs_fresh(session, ids)
    assert len(stored_docs(session, ids)) == 3 and all('"De vuelta"' in d.doc_head for d in stored_docs(session, ids))
    session.execute(text("DELETE FROM service_at_location WHERE service_id = :id AND location_id IN "
                         "(SELECT id FROM location WHERE address = 'Otra sede')"), {"id": legal})  # fmt: skip
    assert_docs_fresh(session, ids)
    assert len(stored_docs(session, ids)) == 2
    session.execute(text("DELETE FROM service WHERE id = :id"), {"id": hidden})
    assert_docs_fresh(session, ids)
    assert [d.sal_id for d in stored_docs(session, [hidden])] == []
