"""Models; importing this module registers every table on ``Base.metadata``."""
from mapservice.models.base import Base, utcnow
from mapservice.models.directory import (
    ORG_STATUSES,
    SERVICE_STATUSES,
    Location,
    Organization,
    Service,
    ServiceAtLocation,
)
from mapservice.models.reference import AdminArea, Category, Country, Place, Population

__all__ = [
    "AdminArea",
    "Base",
    "Category",
    "Country",
    "Location",
    "ORG_STATUSES",
    "Organization",
    "Place",
    "Population",
    "SERVICE_STATUSES",
    "Service",
    "ServiceAtLocation",
    "utcnow",
]
