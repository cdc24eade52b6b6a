"""Writes on accounts: users, passwords, one-time reset links, API tokens, organizations.

The caller commits.  Messages of :class:`AccountError` are safe to show to the person
who caused them.
"""
from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from mapservice.auth import hash_password, needs_rehash, password_problem, token_digest, verify_password
from mapservice.models import ROLES, ApiToken, Organization, User
from mapservice.services.listings import COUNTRIES, EMAIL_RE

ORG_KINDS = {
    "cso": "Civil-society organization",
    "rlo": "Refugee-led organization",
    "faith_based": "Faith-based organization",
    "international": "International organization",
    "public": "Public institution",
}
RESET_LINK_HOURS = 48
TOKEN_PREFIX = "msk_"


class AccountError(ValueError):
    """A refused account operation, with a message for the person."""


class EmailTaken(AccountError):
    """The e-mail already has an account (public pages must not say so)."""


def normalize_email(email: str) -> str:
    """Trimmed, NFC, lower-cased e-mail; raises :class:`AccountError` when it is not one."""
    value = unicodedata.normalize("NFC", (email or "").strip()).lower()
    if not EMAIL_RE.match(value) or len(value) > 300:
        raise AccountError("Enter a valid e-mail address.")
    return value


def find_user(session: Session, email: str) -> User | None:
    """The user with this e-mail (any case), or ``None``."""
    try:
        email = normalize_email(email)
    except AccountError:
        return None
    return session.scalar(select(User).where(User.email == email))


def create_user(
    session: Session,
    email: str,
    password: str,
    role: str,
    *,
    organization: Organization | None = None,
    country: str | None = None,
) -> User:
    """Create a user after checking the role's needs and the password policy."""
    email = normalize_email(email)
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if role == "cso_editor" and organization is None:
        raise AccountError("an organization editor needs an organization")
    if country is not None:
        country = country.upper()
        if country not in COUNTRIES:
            raise AccountError(f"country must be one of {' '.join(COUNTRIES)}")
    if role == "ntt_viewer" and country is None:
        raise AccountError("a national technical team viewer needs a country")
    problem = password_problem(password, email=email)
    if problem:
        raise AccountError(problem)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise EmailTaken(f"a user with the e-mail {email} already exists")
    user = User(
        email=email,
        password_hash=hash_password(password),
        role=role,
        organization=organization if role == "cso_editor" else None,
        country_code=country,
        active=True,
        session_version=1,
    )
    session.add(user)
    session.flush()
    return user


def get_or_create_organization(session: Session, name: str, country: str | None = None) -> Organization:
    """The organization of this name, created approved (an administrator's tool) if missing."""
    name = unicodedata.normalize("NFC", name.strip())
    if not name:
        raise AccountError("the organization name is empty")
    org = session.scalar(select(Organization).where(Organization.name == name))
    if org is None:
        org = Organization(name=name, kind="cso", country_code=country, description="", status="approved", is_demo=False)
        session.add(org)
        session.flush()
    return org


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The user when the e-mail and password match, else ``None`` (same time either way).

    A stored hash with outdated parameters is upgraded on success.
    """
    user = find_user(session, email)
    if not verify_password(user.password_hash if user else None, password) or user is None:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = datetime.now(timezone.utc)
    return user


def end_sessions(user: User) -> None:
    """Sign the user out everywhere (every existing session cookie stops working)."""
    user.session_version = (user.session_version or 0) + 1


def set_password(user: User, password: str) -> None:
    """Change the password after the policy check; ends the user's other sessions."""
    problem = password_problem(password, email=user.email)
    if problem:
        raise AccountError(problem)
    user.password_hash = hash_password(password)
    user.reset_token_hash = None
    user.reset_expires_at = None
    end_sessions(user)


def issue_reset_link_token(user: User, *, hours: int = RESET_LINK_HOURS) -> str:
    """A new one-time password reset token for ``user`` (only its digest is stored)."""
    token = secrets.token_urlsafe(32)
    user.reset_token_hash = token_digest(token)
    user.reset_expires_at = datetime.now(timezone.utc) + timedelta(hours=hours)
    return token


def user_for_reset_token(session: Session, token: str) -> User | None:
    """The user a valid, unexpired reset token belongs to, else ``None``."""
    if not token or len(token) > 100:
        return None
    user = session.scalar(select(User).where(User.reset_token_hash == token_digest(token)))
    if user is None or user.reset_expires_at is None or user.reset_expires_at < datetime.now(timezone.utc):
        return None
    return user


@dataclass
class NewToken:
    """A freshly created API token: ``secret`` is shown once and never stored."""

    token: ApiToken
    secret: str


def create_api_token(session: Session, user: User, label: str = "") -> NewToken:
    """A new bearer token for ``user``; only its SHA-256 is stored."""
    if user.role not in ("cso_editor", "admin"):
        raise AccountError("only organization editors and administrators can have write tokens")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user=user, token_hash=token_digest(secret), prefix=secret[:10], label=label.strip()[:100])
    session.add(token)
    session.flush()
    return NewToken(token, secret)


def user_for_api_token(session: Session, secret: str) -> User | None:
    """The active user a valid, unrevoked token belongs to (marks the token used), else ``None``."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    token = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == token_digest(secret), ApiToken.revoked_at.is_(None))
    )
    if token is None or not token.user.is_active:
        return None
    token.last_used_at = datetime.now(timezone.utc)
    return token.user


def revoke_api_token(session: Session, user: User, token_id: int) -> bool:
    """Revoke one of ``user``'s tokens; False when it is not theirs or already revoked."""
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    return result.rowcount == 1


def set_organization_status(session: Session, org: Organization, status: str) -> None:
    """Approve, reject or suspend an organization; leaving 'approved' ends its editors' sessions."""
    if status not in ("approved", "rejected", "suspended", "pending"):
        raise AccountError("unknown organization status")
    org.status = status
    if status != "approved":
        session.execute(
            update(User)
            .where(User.organization_id == org.id)
            .values(session_version=User.session_version + 1)
            .execution_options(synchronize_session="fetch")
        )


def register_organization(
    session: Session, *, name: str, country: str, kind: str, contact_name: str, email: str, password: str
) -> tuple[Organization, User]:
    """A pending organization and its first editor; neither is public nor can sign in until approved."""
    name = unicodedata.normalize("NFC", (name or "").strip())
    if not name:
        raise AccountError("Enter the organization's name.")
    if kind not in ORG_KINDS:
        raise AccountError("Choose the type of organization.")
    if session.scalar(select(Organization.id).where(func.lower(Organization.name) == name.lower())) is not None:
        raise AccountError("An organization with this name is already registered. Ask the Technical Secretariat to add you to it.")
    org = Organization(
        name=name, kind=kind, country_code=(country or "").upper() or None, description="",
        contact_name=contact_name.strip()[:200], email=normalize_email(email), status="pending", is_demo=False,
    )  # fmt: skip
    session.add(org)
    session.flush()
    user = create_user(session, email, password, "cso_editor", organization=org, country=org.country_code)
    return org, user
