"""Who may do what: password hashing and policy, sessions checked on the server, role checks.

Sessions are Flask's signed cookie holding ``"<user id>:<session version>"`` (see
:meth:`User.get_id`).  Each request loads the user and compares the version, so raising
``session_version`` (password change or reset, suspension of the organization) ends every
session at once.  An editor whose organization is not approved is not active and is signed out.
"""
from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable
from functools import lru_cache, wraps
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import Flask, abort
from flask_login import current_user

from mapservice.extensions import db, login_manager

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
COMMON_PASSWORDS_FILE = Path(__file__).parent / "data" / "common-passwords.txt.gz"

# argon2id with the OWASP/ASVS minimum for argon2id: 19 MiB of memory, 2 passes, 1 lane.
password_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the e-mail is unknown, so a wrong e-mail takes as long as a wrong password.
_DUMMY_HASH = password_hasher.hash("not a real password: timing equalizer")


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted, parameters embedded)."""
    return password_hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; always spends one argon2 verification."""
    try:
        return password_hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return password_hasher.check_needs_rehash(password_hash)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The 20,000 most common passwords (lower case), shipped with the package."""
    with gzip.open(COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


def password_problem(password: str, *, email: str | None = None) -> str | None:
    """Why ``password`` is not acceptable, or ``None`` when it is."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"The password must have at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"The password must have at most {MAX_PASSWORD_LENGTH} characters."
    lowered = password.lower()
    if lowered in common_passwords() or lowered.strip("0123456789!.") in common_passwords():
        return "This password is one of the most common passwords; choose another."
    if email and lowered == email.lower():
        return "The password must not be your e-mail address."
    return None


def token_digest(token: str) -> str:
    """SHA-256 of a random token (API tokens and reset links are stored this way only)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def init_app(app: Flask) -> None:
    """Bind Flask-Login: the user loader that checks the session version."""
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = None
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(session_id: str):
        from mapservice.models import User

        user_id, _, version = session_id.partition(":")
        if not user_id.isdigit() or not version.isdigit():
            return None
        user = db.session.get(User, int(user_id))
        if user is None or user.session_version != int(version) or not user.is_active:
            return None
        return user


# Access helpers ----------------------------------------------------------------------------


def roles_required(*roles: str) -> Callable:
    """Decorate a view: anonymous visitors are sent to sign in, other roles get 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def can_view_country(user, country_code: str | None) -> bool:
    """True when ``user`` may see non-public figures of a country (NTT viewers: their own)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.role == "admin":
        return True
    if user.role == "ntt_viewer":
        return country_code is not None and user.country_code == country_code.upper()
    return False


def can_edit_organization(user, organization_id: int | None) -> bool:
    """True when ``user`` may change the services of an organization (its editors, admins)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.role == "admin":
        return True
    return user.role == "cso_editor" and organization_id is not None and user.organization_id == organization_id
