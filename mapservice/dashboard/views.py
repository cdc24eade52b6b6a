"""Dashboard pages: an organization's services (list, map, edit, delete, restore, confirm,
history), API tokens, and the home of each role."""
from __future__ import annotations

import json

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from mapservice.auth import can_edit_organization, roles_required
from mapservice.dashboard import bp
from mapservice.extensions import db
from mapservice.i18n import current_locale
from mapservice.queries.dashboard import country_names, organization_services, own_service
from mapservice.queries.vocabulary import vocabulary
from mapservice.services.accounts import AccountError, create_api_token, revoke_api_token
from mapservice.services.editing import (
    EditError,
    confirm_service,
    create_service,
    delete_service,
    restore_service,
    update_service,
)
from mapservice.services.history import Actor, service_history

EDITORS = ("cso_editor", "admin")
FORM_FIELDS = ("external_id", "service_name", "description", "country", "address", "latitude", "longitude",
               "phone", "whatsapp", "email", "website", "hours", "free", "languages")  # fmt: skip


def _actor() -> Actor:
    return Actor(current_user.id, current_user.email, "dashboard")


def _scope() -> int | None:
    return None if current_user.role == "admin" else current_user.organization_id


def _service_or_404(service_id: int) -> dict:
    """A service the signed-in user may edit; 404 for everything else (no existence leak)."""
    if service_id > 2**31 - 1:
        abort(404)
    row = own_service(db.session, service_id)
    if row is None or not can_edit_organization(current_user, row["organization_id"]):
        abort(404)
    return row


def _map_points(services: list[dict]) -> str:
    return json.dumps([
        {"id": s["id"], "name": s["name"], "lat": s["lat"], "lon": s["lon"], "confidential": s["confidential"],
         "deleted": s["status"] != "active", "edit": url_for("dashboard.edit_service", service_id=s["id"])}
        for s in services if s["lat"] is not None
    ])  # fmt: skip


@bp.get("/")
@login_required
def home():
    """What needs attention first: an editor's own services (list and map), an admin's queue."""
    services: list[dict] = []
    if current_user.role == "cso_editor":
        services = organization_services(
            db.session, current_user.organization_id, warn_after_days=current_app.config["VERIFY_WARN_DAYS"]
        )
    admin_counts = None
    if current_user.role == "admin":
        from mapservice.queries.dashboard import admin_counts as counts

        admin_counts = counts(db.session)
    return render_template(
        "dashboard/home.html", services=services, points=_map_points(services), admin_counts=admin_counts,
        locale=current_locale(), vocab=vocabulary(),
    )  # fmt: skip


def _form_values(row: dict | None) -> dict:
    """The service form's values from a stored service (or empty for a new one)."""
    if row is None:
        return {"country": (current_user.organization.country_code if current_user.organization else None) or "",
                "languages": "es", "free": "yes", "categories": [], "populations": [], "confidential": False}  # fmt: skip
    yes_no = {True: "yes", False: "no", None: ""}
    return {
        "external_id": row["external_id"], "service_name": row["name"], "description": row["description"],
        "country": row["country"], "address": row["address"] or "",
        "latitude": f"{row['lat']:.6f}" if row["lat"] is not None else "",
        "longitude": f"{row['lon']:.6f}" if row["lon"] is not None else "",
        "phone": row["phone"] or "", "whatsapp": row["whatsapp"] or "", "email": row["email"] or "",
        "website": row["website"] or "", "hours": row["hours"] or "", "free": yes_no[row["free"]],
        "languages": "; ".join(row["languages"]), "categories": list(row["categories"]),
        "populations": list(row["populations"]), "confidential": row["confidential"],
    }  # fmt: skip


def _submitted() -> dict:
    """The posted service form as listing fields (what the write layer validates)."""
    form = request.form
    values = {name: form.get(name, "") for name in FORM_FIELDS}
    values["categories"] = form.getlist("categories")
    values["populations"] = form.getlist("populations")
    values["confidential"] = form.get("confidential") == "yes"
    return values


def _as_body(values: dict, *, creating: bool) -> dict:
    body = dict(values)
    body["free"] = {"yes": True, "no": False}.get(values.get("free", ""), None)
    if not body.get("external_id"):  # made up on create, kept on edit
        body.pop("external_id", None)
    return body


def _render_form(values: dict, *, row: dict | None, errors: list[str], status: int = 200, conflict=None):
    return render_template(
        "dashboard/service_form.html", values=values, row=row, errors=errors, conflict=conflict,
        vocab=vocabulary(), countries=country_names(db.session, current_locale()), locale=current_locale(),
    ), status  # fmt: skip


@bp.route("/services/new", methods=["GET", "POST"])
@roles_required("cso_editor")
def new_service():
    """Add a service: tap the map, type coordinates or pick a town, then drag the pin."""
    if request.method == "GET":
        return _render_form(_form_values(None), row=None, errors=[])
    values = _submitted()
    try:
        service_id, _version = create_service(db.session, current_user.organization_id,
                                              _as_body(values, creating=True), _actor())  # fmt: skip
    except EditError as err:
        db.session.rollback()
        return _render_form(values, row=None, errors=err.errors or [err.message], status=400)
    db.session.commit()
    flash(_("The service was added. It is public now."))
    return redirect(url_for("dashboard.home"))


@bp.route("/services/<int:service_id>/edit", methods=["GET", "POST"])
@roles_required(*EDITORS)
def edit_service(service_id: int):
    """Change a service; a form opened before someone else's change is refused and shows it."""
    row = _service_or_404(service_id)
    if request.method == "GET":
        return _render_form(_form_values(row), row=row, errors=[])
    values = _submitted()
    expected = _posted_version()
    try:
        update_service(db.session, service_id, _as_body(values, creating=False), expected, _actor(),
                       organization_id=_scope())  # fmt: skip
    except EditError as err:
        db.session.rollback()
        if err.status == 412:
            current = own_service(db.session, service_id)
            latest = service_history(db.session, service_id)[:1]
            return _render_form(values, row=current, errors=[], status=409,
                                conflict={"current": _form_values(current), "latest": latest[0] if latest else None})  # fmt: skip
        return _render_form(values, row=row, errors=err.errors or [err.message], status=err.status if err.status < 500 else 400)
    db.session.commit()
    flash(_("Saved."))
    return redirect(url_for("dashboard.home"))


def _posted_version() -> int:
    raw = request.form.get("version", "")
    return int(raw) if raw.isdigit() and len(raw) < 10 else -1


def _status_action(service_id: int, action, done_message: str, *, back: str | None = None):
    _service_or_404(service_id)
    try:
        action(db.session, service_id, _posted_version(), _actor(), organization_id=_scope())
    except EditError as err:
        db.session.rollback()
        if err.status == 412:
            flash(_("Someone changed this service since you opened the page. Check it and try again."))
        else:
            flash(_(err.message))
        return redirect(back or url_for("dashboard.home"))
    db.session.commit()
    flash(done_message)
    return redirect(back or url_for("dashboard.home"))


@bp.post("/services/<int:service_id>/delete")
@roles_required(*EDITORS)
def delete(service_id: int):
    """Soft delete: the service leaves public search and can be restored."""
    return _status_action(service_id, delete_service, _("The service was removed from public search. You can restore it."))


@bp.post("/services/<int:service_id>/restore")
@roles_required(*EDITORS)
def restore(service_id: int):
    """Restore a deleted service (its organization's editors, or an administrator for any)."""
    back = url_for("dashboard.admin_deleted") if current_user.role == "admin" else None
    return _status_action(service_id, restore_service, _("The service was restored and is public again."), back=back)


@bp.post("/services/<int:service_id>/confirm")
@roles_required(*EDITORS)
def confirm(service_id: int):
    """"Still accurate": one tap sets the verification date to today."""
    return _status_action(service_id, confirm_service, _("Thank you: the service is confirmed as accurate today."))


@bp.get("/services/<int:service_id>/history")
@roles_required(*EDITORS)
def history(service_id: int):
    """Who changed what and when, newest first."""
    row = _service_or_404(service_id)
    return render_template("dashboard/history.html", row=row, entries=service_history(db.session, service_id),
                           locale=current_locale())  # fmt: skip


@bp.route("/tokens", methods=["GET", "POST"])
@roles_required(*EDITORS)
def tokens():
    """Write-API tokens: create one (shown once), see and revoke them."""
    from sqlalchemy import select

    from mapservice.models import ApiToken

    secret = None
    if request.method == "POST":
        try:
            new = create_api_token(db.session, current_user, request.form.get("label", ""))
        except AccountError as err:
            flash(_(str(err)))
        else:
            db.session.commit()
            secret = new.secret
    rows = db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == current_user.id).order_by(ApiToken.created_at.desc())
    ).all()
    return render_template("dashboard/tokens.html", tokens=rows, secret=secret, locale=current_locale())


@bp.post("/tokens/<int:token_id>/revoke")
@roles_required(*EDITORS)
def revoke_token(token_id: int):
    """Revoke one of one's own tokens."""
    if revoke_api_token(db.session, current_user, token_id):
        db.session.commit()
        flash(_("The token was revoked."))
    return redirect(url_for("dashboard.tokens"))


@bp.get("/feedback")
@roles_required(*EDITORS)
def feedback():
    """Problems the public reported about the organization's services (all of them for admins)."""
    from mapservice.queries.dashboard import feedback_for

    return render_template("dashboard/feedback.html", items=feedback_for(db.session, _scope()), locale=current_locale())


@bp.post("/feedback/<int:feedback_id>")
@roles_required(*EDITORS)
def feedback_state(feedback_id: int):
    """Mark a report resolved, dismissed or open again."""
    from mapservice.services.feedback import set_feedback_state

    if feedback_id > 2**31 - 1 or not set_feedback_state(
        db.session, feedback_id, request.form.get("state", ""), current_user.id, _scope()
    ):
        abort(404)
    db.session.commit()
    return redirect(url_for("dashboard.feedback"))


@bp.route("/upload", methods=["GET", "POST"])
@roles_required("cso_editor")
def upload():
    """Upload a CSV or XLSX of listings: a preview (or every bad line) and nothing written yet."""
    from mapservice.services.upload import preview, save_upload

    if request.method == "GET":
        return render_template("dashboard/upload.html", result=None, key=None, locale=current_locale())
    file = request.files.get("file")
    if file is None or not file.filename:
        return render_template("dashboard/upload.html", result=None, key=None, locale=current_locale(),
                               problem=_("Choose a CSV or XLSX file.")), 400  # fmt: skip
    data = file.read()
    result = preview(db.session, data, file.filename, current_user.organization.name, _actor())
    db.session.rollback()
    key = save_upload(current_user.id, data, file.filename) if result.report else None
    return render_template("dashboard/upload.html", result=result, key=key, filename=file.filename,
                           locale=current_locale()), (200 if result.report else 400)  # fmt: skip


@bp.post("/upload/<key>")
@roles_required("cso_editor")
def upload_confirm(key: str):
    """Write a previewed upload, if what it would do is still what the preview showed."""
    from mapservice.services.upload import drop_upload, load_upload, preview

    saved = load_upload(current_user.id, key)
    if saved is None:
        abort(404)
    data, filename = saved
    expected = request.form.get("expected", "")
    check = preview(db.session, data, filename, current_user.organization.name, _actor())
    db.session.rollback()
    if check.report is None or check.report.summary() != expected:
        flash(_("The directory changed since the preview: check the new preview and confirm again."))
        return render_template("dashboard/upload.html", result=check, key=key if check.report else None,
                               filename=filename, locale=current_locale()), 409  # fmt: skip
    done = preview(db.session, data, filename, current_user.organization.name, _actor(), write=True)
    if done.report is None:  # cannot happen after the check above, but never write half a file
        db.session.rollback()
        abort(409)
    db.session.commit()
    drop_upload(key)
    flash(_("Uploaded: %(summary)s", summary=done.report.summary()))
    return redirect(url_for("dashboard.home"))


@bp.get("/upload/template.csv")
@roles_required("cso_editor")
def upload_template():
    """A CSV template with the header and an example row for the editor's organization."""
    from mapservice.services.upload import template_csv

    return current_app.response_class(
        template_csv(current_user.organization.name), mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="listings-template.csv"'},
    )  # fmt: skip
