"""Models; importing this module registers every table on ``Base.metadata``."""
from mapservice.models.accounts import FEEDBACK_KINDS, ROLES, ApiToken, Feedback, ServiceHistory, User
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
    "ApiToken",
    "Base",
    "Category",
    "Country",
    "FEEDBACK_KINDS",
    "Feedback",
    "Location",
    "ORG_STATUSES",
    "Organization",
    "Place",
    "Population",
    "ROLES",
    "SERVICE_STATUSES",
    "Service",
    "ServiceAtLocation",
    "ServiceHistory",
    "User",
    "utcnow",
]
