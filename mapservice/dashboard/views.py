"""Dashboard pages: the home of each role."""
from __future__ import annotations

from flask import current_app, render_template
from flask_login import current_user, login_required

from mapservice.dashboard import bp
from mapservice.extensions import db
from mapservice.i18n import current_locale
from mapservice.queries.dashboard import organization_services


@bp.get("/")
@login_required
def home():
    """What needs attention first: an editor's own services, an administrator's queue."""
    services = []
    if current_user.role == "cso_editor":
        services = organization_services(
            db.session, current_user.organization_id, warn_after_days=current_app.config["VERIFY_WARN_DAYS"]
        )
    return render_template("dashboard/home.html", services=services, locale=current_locale())
