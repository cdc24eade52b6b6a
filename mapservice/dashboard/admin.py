"""Administration (the Technical Secretariat): organizations, users' password links, deleted services."""
from __future__ import annotations

import secrets

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from mapservice.auth import roles_required
from mapservice.dashboard import bp
from mapservice.extensions import db
from mapservice.i18n import current_locale
from mapservice.models import ROLES, Organization, User
from mapservice.queries.dashboard import deleted_services, organizations
from mapservice.services.accounts import (
    ORG_KINDS,
    AccountError,
    create_user,
    issue_reset_link_token,
    set_organization_status,
)
from mapservice.services.listings import COUNTRIES

STATUS_ACTIONS = {"approve": "approved", "reject": "rejected", "suspend": "suspended"}


@bp.get("/admin/organizations")
@roles_required("admin")
def admin_organizations():
    """Organizations, those waiting for approval first."""
    return render_template("dashboard/admin_organizations.html", orgs=organizations(db.session), kinds=ORG_KINDS,
                           locale=current_locale())  # fmt: skip


@bp.post("/admin/organizations/<int:org_id>/status")
@roles_required("admin")
def admin_organization_status(org_id: int):
    """Approve, reject or suspend; suspension hides its services and ends its editors' sessions."""
    org = db.session.get(Organization, org_id) if org_id < 2**31 else None
    status = STATUS_ACTIONS.get(request.form.get("action", ""))
    if org is None or status is None:
        abort(404 if org is None else 400)
    set_organization_status(db.session, org, status)
    db.session.commit()
    flash(_("%(name)s: %(status)s", name=org.name, status=status))
    return redirect(url_for("dashboard.admin_organizations"))


def _users_page(status: int = 200, **extra):
    users = db.session.scalars(select(User).order_by(User.role, User.email)).all()
    orgs = db.session.scalars(
        select(Organization).where(Organization.status == "approved").order_by(Organization.name)
    ).all()
    extra.setdefault("link", None)
    return render_template("dashboard/admin_users.html", users=users, orgs=orgs, roles=ROLES, countries=COUNTRIES,
                           locale=current_locale(), **extra), status  # fmt: skip


@bp.get("/admin/users")
@roles_required("admin")
def admin_users():
    """Every user, to issue one-time password links, and a form to add one."""
    return _users_page()


@bp.post("/admin/users")
@roles_required("admin")
def admin_create_user():
    """Add a user; they choose their own password through a one-time link (the admin never knows it)."""
    org_id = request.form.get("organization", "")
    org = db.session.get(Organization, int(org_id)) if org_id.isdigit() and len(org_id) < 10 else None
    try:
        user = create_user(
            db.session, request.form.get("email", ""), secrets.token_urlsafe(24), request.form.get("role", ""),
            organization=org, country=request.form.get("country") or None,
        )  # fmt: skip
    except AccountError as err:
        db.session.rollback()
        return _users_page(400, problem=_(str(err)))
    token = issue_reset_link_token(user)
    db.session.commit()
    return _users_page(link=url_for("accounts.reset_password", token=token, _external=True), link_user=user)


@bp.post("/admin/users/<int:user_id>/reset-link")
@roles_required("admin")
def admin_reset_link(user_id: int):
    """A one-time password link (48 hours) to hand to the user by a channel you trust."""
    user = db.session.get(User, user_id) if user_id < 2**31 else None
    if user is None:
        abort(404)
    token = issue_reset_link_token(user)
    db.session.commit()
    return _users_page(link=url_for("accounts.reset_password", token=token, _external=True), link_user=user)


@bp.get("/admin/deleted")
@roles_required("admin")
def admin_deleted():
    """Deleted services of every organization, each restorable."""
    return render_template("dashboard/admin_deleted.html", services=deleted_services(db.session), locale=current_locale())
