"""The public "report a problem" form of each service page (blueprint ``feedback``).

No account, no personal data asked; CSRF-protected and rate-limited per address.  The form
lives on its own page so that only visitors who open it get the session cookie holding the
CSRF token.
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import gettext as _

from mapservice.extensions import db, limiter
from mapservice.i18n import current_locale
from mapservice.queries.services import public_service
from mapservice.services.feedback import FeedbackError, submit_feedback

bp = Blueprint("feedback", __name__)

KIND_LABELS = {
    "closed": "The service is closed or no longer exists",
    "wrong_phone": "The phone number is wrong",
    "wrong_place": "The place is wrong",
    "other": "Something else",
}


@bp.route("/services/<int:service_id>/report", methods=["GET", "POST"])
@limiter.limit("5 per hour;20 per day", methods=["POST"], scope="feedback")
def report(service_id: int):
    """Tell the organization something is wrong with its listing."""
    if service_id > 2**31 - 1:
        abort(404)
    service = public_service(db.session, service_id, hide_after_days=current_app.config["VERIFY_HIDE_DAYS"])
    if service is None:
        abort(404)
    error = None
    if request.method == "POST":
        try:
            submit_feedback(db.session, service_id, request.form.get("kind", ""), request.form.get("message", ""))
        except FeedbackError as err:
            error = _(str(err))
        else:
            db.session.commit()
            return render_template("feedback_thanks.html", s=service, locale=current_locale())
    return render_template("feedback_form.html", s=service, kinds=KIND_LABELS, error=error,
                           locale=current_locale()), (400 if error else 200)  # fmt: skip


def days_ago(day) -> int:
    """Days between ``day`` and today (a template filter for freshness notices)."""
    from datetime import date

    return (date.today() - day).days
