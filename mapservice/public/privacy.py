"""The privacy page: what the site stores and what it does not (docs/privacy.md in plain words)."""
from __future__ import annotations

from flask import current_app, render_template

from mapservice.i18n import current_locale
from mapservice.public import bp


@bp.get("/privacy")
def privacy():
    """What is and is not stored about visitors, organizations and confidential places."""
    return render_template(
        "privacy.html",
        locale=current_locale(),
        feedback_days=current_app.config["FEEDBACK_RETENTION_DAYS"],
    )
