"""Directory schema: PostGIS, reference data, organizations, services, locations.

Revision ID: 0001
Revises: 
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # unaccent() is only STABLE; an IMMUTABLE wrapper with a fixed dictionary can be indexed.
    op.execute(
        """
        CREATE OR REPLACE FUNCTION f_unaccent(text) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
        AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$
        """
    )
    op.create_table('category',
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('parent_code', sa.String(length=64), nullable=True),
    sa.Column('label_en', sa.String(length=200), nullable=False),
    sa.Column('label_es', sa.String(length=200), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['parent_code'], ['category.code'], name=op.f('fk_category_parent_code_category')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_category'))
    )
    op.create_geospatial_table('country',
    sa.Column('code', sa.String(length=2), nullable=False),
    sa.Column('iso3', sa.String(length=3), nullable=False),
    sa.Column('name_en', sa.String(length=100), nullable=False),
    sa.Column('name_es', sa.String(length=100), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_country'))
    )
    op.create_geospatial_index('idx_country_geom', 'country', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_table('population',
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('label_en', sa.String(length=200), nullable=False),
    sa.Column('label_es', sa.String(length=200), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_population'))
    )
    op.create_geospatial_table('admin_area',
    sa.Column('code', sa.String(length=8), nullable=False),
    sa.Column('country_code', sa.String(length=2), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.ForeignKeyConstraint(['country_code'], ['country.code'], name=op.f('fk_admin_area_country_code_country')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_admin_area'))
    )
    op.create_geospatial_index('idx_admin_area_geom', 'admin_area', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_admin_area_country_code'), 'admin_area', ['country_code'], unique=False)
    op.create_table('organization',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('country_code', sa.String(length=2), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('website', sa.String(length=500), nullable=True),
    sa.Column('email', sa.String(length=300), nullable=True),
    sa.Column('contact_name', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('is_demo', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['country_code'], ['country.code'], name=op.f('fk_organization_country_code_country')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organization')),
    sa.UniqueConstraint('name', name=op.f('uq_organization_name'))
    )
    op.create_geospatial_table('location',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('public_geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('declared_country', sa.String(length=2), nullable=False),
    sa.Column('country_code', sa.String(length=2), nullable=True),
    sa.Column('admin_area_code', sa.String(length=8), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['admin_area_code'], ['admin_area.code'], name=op.f('fk_location_admin_area_code_admin_area')),
    sa.ForeignKeyConstraint(['declared_country'], ['country.code'], name=op.f('fk_location_declared_country_country')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_location'))
    )
    op.create_geospatial_index('idx_location_geom', 'location', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_geospatial_index('idx_location_public_geom', 'location', ['public_geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_location_admin_area_code'), 'location', ['admin_area_code'], unique=False)
    op.create_geospatial_table('place',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('geonameid', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('alternate_names', sa.String(), nullable=False),
    sa.Column('country_code', sa.String(length=2), nullable=False),
    sa.Column('admin_area_code', sa.String(length=8), nullable=True),
    sa.Column('population', sa.Integer(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.ForeignKeyConstraint(['admin_area_code'], ['admin_area.code'], name=op.f('fk_place_admin_area_code_admin_area')),
    sa.ForeignKeyConstraint(['country_code'], ['country.code'], name=op.f('fk_place_country_code_country')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_place')),
    sa.UniqueConstraint('geonameid', name=op.f('uq_place_geonameid'))
    )
    op.create_geospatial_index('idx_place_geom', 'place', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_place_admin_area_code'), 'place', ['admin_area_code'], unique=False)
    op.create_index(op.f('ix_place_country_code'), 'place', ['country_code'], unique=False)
    op.create_table('service',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('categories', sa.ARRAY(sa.String(length=64)), nullable=False),
    sa.Column('populations', sa.ARRAY(sa.String(length=64)), nullable=False),
    sa.Column('languages', sa.ARRAY(sa.String(length=8)), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('whatsapp', sa.String(length=32), nullable=True),
    sa.Column('email', sa.String(length=300), nullable=True),
    sa.Column('website', sa.String(length=500), nullable=True),
    sa.Column('hours', sa.String(length=500), nullable=True),
    sa.Column('free', sa.Boolean(), nullable=True),
    sa.Column('confidential', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('is_demo', sa.Boolean(), nullable=False),
    sa.Column('last_verified', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_service_organization_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service')),
    sa.UniqueConstraint('organization_id', 'external_id', name=op.f('uq_service_organization_id'))
    )
    op.create_index(op.f('ix_service_organization_id'), 'service', ['organization_id'], unique=False)
    op.create_table('service_at_location',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_service_at_location_location_id_location'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], name=op.f('fk_service_at_location_service_id_service'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_at_location')),
    sa.UniqueConstraint('service_id', 'location_id', name=op.f('uq_service_at_location_service_id'))
    )
    op.create_index(op.f('ix_service_at_location_location_id'), 'service_at_location', ['location_id'], unique=False)
    op.create_index(op.f('ix_service_at_location_service_id'), 'service_at_location', ['service_id'], unique=False)

    op.execute("CREATE INDEX ix_place_name_trgm ON place USING gin (f_unaccent(lower(name)) gin_trgm_ops)")
    op.execute("CREATE INDEX ix_location_public_geog ON location USING gist ((public_geom::geography))")
    op.execute("CREATE INDEX ix_service_categories ON service USING gin (categories)")
    op.execute(
        """
        CREATE FUNCTION generalize_point(exact geometry) RETURNS geometry
        LANGUAGE sql VOLATILE PARALLEL SAFE STRICT AS $$
          -- A point 1.5-3 km from the exact one, in a random direction. Called once when a
          -- confidential location is stored, never per request, so averaging cannot undo it.
          SELECT ST_SetSRID(ST_Project(exact::geography, 1500 + random() * 1500,
                                       radians(random() * 360))::geometry, 4326)
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION location_fill_areas() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          SELECT a.code, a.country_code INTO NEW.admin_area_code, NEW.country_code
            FROM admin_area a WHERE ST_Covers(a.geom, NEW.geom) LIMIT 1;
          IF NEW.admin_area_code IS NULL THEN
            -- Natural Earth 1:10m coastlines are 1-2 km off: a shore point takes the
            -- nearest area within about 5 km.
            SELECT a.code, a.country_code INTO NEW.admin_area_code, NEW.country_code
              FROM admin_area a WHERE ST_DWithin(a.geom, NEW.geom, 0.05)
              ORDER BY ST_Distance(a.geom, NEW.geom) LIMIT 1;
          END IF;
          SELECT p.timezone INTO NEW.timezone FROM place p ORDER BY p.geom <-> NEW.geom LIMIT 1;
          RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER location_fill_areas BEFORE INSERT OR UPDATE OF geom ON location "
        "FOR EACH ROW EXECUTE FUNCTION location_fill_areas()"
    )


def downgrade():
    op.execute("DROP TRIGGER IF EXISTS location_fill_areas ON location")
    op.execute("DROP FUNCTION IF EXISTS location_fill_areas()")
    op.execute("DROP FUNCTION IF EXISTS generalize_point(geometry)")
    op.drop_index(op.f('ix_service_at_location_service_id'), table_name='service_at_location')
    op.drop_index(op.f('ix_service_at_location_location_id'), table_name='service_at_location')
    op.drop_table('service_at_location')
    op.drop_index(op.f('ix_service_organization_id'), table_name='service')
    op.drop_table('service')
    op.drop_index(op.f('ix_place_country_code'), table_name='place')
    op.drop_index(op.f('ix_place_admin_area_code'), table_name='place')
    op.drop_geospatial_index('idx_place_geom', table_name='place', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('place')
    op.drop_index(op.f('ix_location_admin_area_code'), table_name='location')
    op.drop_geospatial_index('idx_location_public_geom', table_name='location', postgresql_using='gist', column_name='public_geom')
    op.drop_geospatial_index('idx_location_geom', table_name='location', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('location')
    op.drop_table('organization')
    op.drop_index(op.f('ix_admin_area_country_code'), table_name='admin_area')
    op.drop_geospatial_index('idx_admin_area_geom', table_name='admin_area', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('admin_area')
    op.drop_table('population')
    op.drop_geospatial_index('idx_country_geom', table_name='country', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('country')
    op.drop_table('category')
    op.execute("DROP FUNCTION IF EXISTS f_unaccent(text)")
