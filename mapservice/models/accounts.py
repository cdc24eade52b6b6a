"""Accounts: users and their roles, API tokens, the service history, public feedback."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mapservice.models.base import Base, utcnow
from mapservice.models.directory import Organization

ROLES = ("admin", "cso_editor", "ntt_viewer")
HISTORY_ACTIONS = ("create", "update", "delete", "restore", "confirm", "import")
FEEDBACK_KINDS = ("closed", "wrong_phone", "wrong_place", "other")
FEEDBACK_STATES = ("open", "resolved", "dismissed")


class User(Base):
    """A person who signs in: an administrator, an organization's editor or a national team's viewer.

    ``session_version`` is part of the signed session: raising it (password change, reset,
    the organization's suspension) ends every session of the user at its next request.
    """

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(300), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)
    country_code: Mapped[str | None] = mapped_column(ForeignKey("country.code"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    reset_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    reset_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    organization: Mapped[Organization | None] = relationship()

    # Flask-Login's protocol.
    @property
    def is_authenticated(self) -> bool:
        """Always true for a loaded user (anonymous visitors are not ``User`` objects)."""
        return True

    @property
    def is_active(self) -> bool:
        """False for a disabled account or an editor whose organization is not approved."""
        if not self.active:
            return False
        if self.role == "cso_editor":
            return self.organization is not None and self.organization.status == "approved"
        return True

    @property
    def is_anonymous(self) -> bool:
        """Never anonymous."""
        return False

    def get_id(self) -> str:
        """The session's user id, bound to the session version (see the class docstring)."""
        return f"{self.id}:{self.session_version}"


class ApiToken(Base):
    """A bearer token for the write API; only its SHA-256 is stored (the token is shown once)."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()


class ServiceHistory(Base):
    """One change to a service: who, when, what, and each changed field before and after.

    Append-only: a database trigger refuses UPDATE and DELETE on this table.
    """

    __tablename__ = "service_history"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # No foreign keys: the trail must survive a hard delete of what it describes.
    service_id: Mapped[int] = mapped_column(Integer, index=True)
    organization_id: Mapped[int] = mapped_column(Integer, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(300))
    via: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(20))
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    version: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Feedback(Base):
    """A problem reported by a member of the public about a service (no personal data)."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    handled_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
