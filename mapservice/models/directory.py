"""The directory itself, shaped after Open Referral HSDS 3.0."""
from __future__ import annotations

from datetime import date, datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    ARRAY,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mapservice.models.base import Base, utcnow

ORG_STATUSES = ("pending", "approved", "rejected", "suspended")
SERVICE_STATUSES = ("active", "deleted")


class Organization(Base):
    """An organization (CSO, refugee-led, faith-based, public institution…) that runs services."""

    __tablename__ = "organization"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(40), default="cso")
    country_code: Mapped[str | None] = mapped_column(ForeignKey("country.code"))
    description: Mapped[str] = mapped_column(Text, default="")
    website: Mapped[str | None] = mapped_column(String(500))
    email: Mapped[str | None] = mapped_column(String(300))
    contact_name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="approved")
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    services: Mapped[list[Service]] = relationship(back_populates="organization")


class Service(Base):
    """A service offered by an organization (HSDS ``service``)."""

    __tablename__ = "service"
    __table_args__ = (UniqueConstraint("organization_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    categories: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    populations: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    languages: Mapped[list[str]] = mapped_column(ARRAY(String(8)), default=list)
    phone: Mapped[str | None] = mapped_column(String(32))
    whatsapp: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(300))
    website: Mapped[str | None] = mapped_column(String(500))
    hours: Mapped[str | None] = mapped_column(String(500))
    free: Mapped[bool | None] = mapped_column(Boolean)
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="active")
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    last_verified: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    organization: Mapped[Organization] = relationship(back_populates="services")
    at_locations: Mapped[list[ServiceAtLocation]] = relationship(
        back_populates="service", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}


class Location(Base):
    """A place where services are delivered (HSDS ``location``).

    ``geom`` is the exact point and never leaves the server for a confidential service;
    ``public_geom`` is what every public view shows: the exact point, or for confidential
    services a point generalized once, at least 1 km away.  ``admin_area_code`` and
    ``country_code`` are filled by a database trigger from the boundary polygons, and
    ``timezone`` from the nearest gazetteer town (for 'open now' in local time).
    """

    __tablename__ = "location"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The exact point: never searched (spatial searches use public_geom), so no index.
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)
    public_geom = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=True), nullable=False
    )
    address: Mapped[str | None] = mapped_column(Text)
    declared_country: Mapped[str] = mapped_column(ForeignKey("country.code"))
    country_code: Mapped[str | None] = mapped_column(String(2))
    admin_area_code: Mapped[str | None] = mapped_column(ForeignKey("admin_area.code"), index=True)
    # The area whose polygon covers public_geom (trigger, migration public_area): coverage counts.
    public_area_code: Mapped[str | None] = mapped_column(String(8), index=True)
    timezone: Mapped[str | None] = mapped_column(String(64))

    at_services: Mapped[list[ServiceAtLocation]] = relationship(back_populates="location")


class ServiceAtLocation(Base):
    """Links a service to a location where it is delivered (HSDS ``service_at_location``)."""

    __tablename__ = "service_at_location"
    __table_args__ = (UniqueConstraint("service_id", "location_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("service.id", ondelete="CASCADE"), index=True
    )
    location_id: Mapped[int] = mapped_column(
        ForeignKey("location.id", ondelete="CASCADE"), index=True
    )

    service: Mapped[Service] = relationship(back_populates="at_locations")
    location: Mapped[Location] = relationship(back_populates="at_services")
