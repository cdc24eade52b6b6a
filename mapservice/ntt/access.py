"""Who may see the coverage dashboard: NTT viewers of the country, and admins."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, redirect, url_for
from flask_login import current_user

from mapservice.auth import can_view_country
from mapservice.extensions import login_manager


def coverage_access_required(view: Callable) -> Callable:
    """Decorate a ``/coverage/<country>`` view: anonymous visitors sign in, others need the country."""

    @wraps(view)
    def wrapped(*args: Any, country: str, **kwargs: Any):
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not can_view_country(current_user, country):
            abort(403)
        return view(*args, country=country, **kwargs)

    return wrapped


def region_access_required(view: Callable) -> Callable:
    """Decorate the region view: admins see it; an NTT viewer is sent to their own country."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any):
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if current_user.role == "ntt_viewer" and current_user.country_code:
            return redirect(url_for("coverage.dashboard", country=current_user.country_code))
        if current_user.role != "admin":
            abort(403)
        return view(*args, **kwargs)

    return wrapped
