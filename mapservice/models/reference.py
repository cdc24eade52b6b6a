"""Reference data: countries, admin areas, the category tree, populations, gazetteer."""
from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from mapservice.models.base import Base


class Country(Base):
    """One of the seven MIRPS countries, with its boundary."""

    __tablename__ = "country"

    code: Mapped[str] = mapped_column(String(2), primary_key=True)
    iso3: Mapped[str] = mapped_column(String(3))
    name_en: Mapped[str] = mapped_column(String(100))
    name_es: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False)


class AdminArea(Base):
    """A first-level administrative area (state, department, province), ISO 3166-2 coded."""

    __tablename__ = "admin_area"

    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    country_code: Mapped[str] = mapped_column(ForeignKey("country.code"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False)


class Category(Base):
    """A node of the bilingual service taxonomy (``protection.legal`` under ``protection``)."""

    __tablename__ = "category"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("category.code"))
    label_en: Mapped[str] = mapped_column(String(200))
    label_es: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)


class Population(Base):
    """A group a service is meant for (children, women, asylum-seekers…)."""

    __tablename__ = "population"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    label_en: Mapped[str] = mapped_column(String(200))
    label_es: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)


class Place(Base):
    """A town of the gazetteer (GeoNames, 1,000+ inhabitants).

    Searched by ``f_unaccent(lower(name))`` through a trigram index made in the migration.
    """

    __tablename__ = "place"

    id: Mapped[int] = mapped_column(primary_key=True)
    geonameid: Mapped[int] = mapped_column(Integer, unique=True)
    name: Mapped[str] = mapped_column(String(200))
    alternate_names: Mapped[str] = mapped_column(String, default="")
    country_code: Mapped[str] = mapped_column(ForeignKey("country.code"), index=True)
    admin_area_code: Mapped[str | None] = mapped_column(ForeignKey("admin_area.code"), index=True)
    population: Mapped[int] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64))
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=True), nullable=False)

