"""Each nearby search row carries its result's JSON, so the nearby API reads it instead of
joining four directory tables and building JSON on every request.

The nearby statement spent about a third of its PostgreSQL CPU on the 20 winners: probing
service_at_location, service, organization and location, then ``json_build_object`` per row.
Now ``nearby_search`` holds each row's public JSON document (the contract's shape of one
result) in two pieces around ``distance_km``, the one value that depends on the search:

- ``doc_head``: ``{"id" : ..., "name" : ..., "organization" : {...}, "categories" : [...], "distance_km" : ``
- ``doc_tail``: ``, "location" : {...}, "phone" : ..., ..., "demo" : ...}``

so a result is ``doc_head || distance || doc_tail``, byte for byte what ``json_build_object``
wrote per request before.  Nothing in a document depends on the date (the verification cut-off
stays a filter on ``last_verified``).  A document holds only public fields: the generalized
point of a confidential service and no address.

``nearby_search_doc_head()`` / ``nearby_search_doc_tail()`` build the pieces from plain values,
for ``refresh_nearby_search()`` and for the bulk importer, which writes nearby search rows
itself.  ``refresh_nearby_search()`` is the only writer otherwise (every trigger path goes
through it); the location trigger now also refreshes when an address changes (it is part of
the document).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""
from alembic import context, op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Rounding in float8 arithmetic, as the nearby statement did (a numeric cast costs more).
DOC_FUNCTIONS = """
CREATE FUNCTION nearby_search_doc_head(id int, name text, organization_id int, organization_name text,
                                       categories varchar[]) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT left(json_build_object(
           'id', id, 'name', name,
           'organization', json_build_object('id', organization_id, 'name', organization_name),
           'categories', categories)::text, -1) || ', "distance_km" : '
$$;
CREATE FUNCTION nearby_search_doc_tail(public_geom geometry, confidential boolean, address text,
                                       phone text, whatsapp text, email text, website text,
                                       languages varchar[], populations varchar[], free boolean,
                                       hours text, last_verified date, description text,
                                       country text, demo boolean) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT ', ' || substr(json_build_object(
           'location', json_build_object(
             'lat', round(ST_Y(public_geom) * 1e6::float8) / 1e6::float8,
             'lon', round(ST_X(public_geom) * 1e6::float8) / 1e6::float8,
             'approximate', confidential,
             'address', CASE WHEN confidential THEN NULL ELSE address END),
           'phone', phone, 'whatsapp', whatsapp, 'email', email, 'website', website,
           'languages', languages, 'populations', populations, 'free', free, 'hours', hours,
           'last_verified', last_verified, 'description', description,
           'country', country, 'demo', demo)::text, 2)
$$;
"""

DOC_VALUES = """,
           nearby_search_doc_head(s.id, s.name, o.id, o.name, s.categories),
           nearby_search_doc_tail(l.public_geom, s.confidential, l.address, s.phone, s.whatsapp,
                                  s.email, s.website, s.languages, s.populations, s.free, s.hours,
                                  s.last_verified, s.description, l.declared_country,
                                  s.is_demo OR o.is_demo)"""

# The location trigger's test of migration 0007, with the address added (it is in the document).
LOCATION_CHANGED = (
    "(n.public_geom, n.public_area_code, n.declared_country, n.address) "
    "IS DISTINCT FROM (p.public_geom, p.public_area_code, p.declared_country, p.address)"
)


def _migration(revision: str):
    """An earlier migration's module, as alembic loaded it."""
    return context.script.get_revision(revision).module


def _refresh_nearby_search(columns: str, values: str) -> str:
    """refresh_nearby_search() as migrations 0007 and 0008 left it, with ``columns`` and
    ``values`` added to its insert."""
    m0007, m0008 = _migration("0007"), _migration("0008")
    sql = m0007.REFRESH_NEARBY_SEARCH.format(
        columns=m0007.COVERAGE_COLUMNS + columns, values=m0007.COVERAGE_VALUES + values
    )
    for before, after in zip(m0008.ANALYZE_TABLES, m0008.ANALYZE_JOIN_COLUMNS):
        sql = sql.replace(before, after)
    return sql


def upgrade():
    op.execute(DOC_FUNCTIONS)
    op.execute("ALTER TABLE nearby_search ADD COLUMN doc_head text, ADD COLUMN doc_tail text")
    op.execute(
        f"""
        UPDATE nearby_search ns SET (doc_head, doc_tail) = (SELECT {DOC_VALUES.lstrip(",")})
          FROM service_at_location sal
          JOIN service s ON s.id = sal.service_id
          JOIN organization o ON o.id = s.organization_id
          JOIN location l ON l.id = sal.location_id
         WHERE sal.id = ns.sal_id
        """
    )
    op.execute("ALTER TABLE nearby_search ALTER COLUMN doc_head SET NOT NULL, ALTER COLUMN doc_tail SET NOT NULL")
    op.execute(_refresh_nearby_search(", doc_head, doc_tail", DOC_VALUES))
    op.execute(_migration("0007").NEARBY_SEARCH_FROM_LOCATION.format(changed=LOCATION_CHANGED))


def downgrade():
    m0007 = _migration("0007")
    op.execute(m0007.NEARBY_SEARCH_FROM_LOCATION.format(changed=m0007.LOCATION_CHANGED))
    op.execute(_refresh_nearby_search("", ""))
    op.execute("ALTER TABLE nearby_search DROP COLUMN doc_head, DROP COLUMN doc_tail")
    op.execute("DROP FUNCTION nearby_search_doc_head(int, text, int, text, varchar[])")
    op.execute(
        "DROP FUNCTION nearby_search_doc_tail(geometry, boolean, text, text, text, text, text, varchar[], "
        "varchar[], boolean, text, date, text, text, boolean)"
    )
