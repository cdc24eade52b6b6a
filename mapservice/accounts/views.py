"""Sign-in and sign-out, password change, one-time reset links."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from mapservice.accounts import bp
from mapservice.accounts.forms import ChangePasswordForm, LoginForm, NewPasswordForm, RegisterOrganizationForm
from mapservice.auth import verify_password
from mapservice.extensions import db, limiter
from mapservice.i18n import current_locale
from mapservice.services.accounts import AccountError, EmailTaken, authenticate, normalize_email, set_password, user_for_reset_token

LOGIN_FAILED = "The e-mail or the password is wrong, or the account cannot sign in yet."


def _login_limit_per_ip() -> str:
    return current_app.config.get("LOGIN_LIMIT_PER_IP", "20 per minute;200 per day")


def _login_limit_per_account() -> str:
    return current_app.config.get("LOGIN_LIMIT_PER_ACCOUNT", "5 per 10 minutes")


def _account_key() -> str:
    """Rate-limit key of the account being tried (the e-mail as typed, normalized)."""
    try:
        return "account:" + normalize_email(request.form.get("email", ""))
    except AccountError:
        return "account:?"


def _failed(response) -> bool:
    """Only failed sign-ins count against an account (a success redirects)."""
    return response.status_code != 302


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this site (no open redirect), else ``None``."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit_per_ip, methods=["POST"], scope="login-ip")
@limiter.limit(_login_limit_per_account, key_func=_account_key, methods=["POST"], deduct_when=_failed,
               scope="login-account")  # fmt: skip
def login():
    """Sign in with e-mail and password; the same message for every kind of failure."""
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(db.session, form.email.data, form.password.data)
        if user is not None and user.is_active:
            session.clear()
            login_user(user)
            db.session.commit()
            return redirect(safe_next(request.args.get("next")) or url_for("dashboard.home"))
        form.password.errors.append(_(LOGIN_FAILED))
        return render_template("accounts/login.html", form=form, locale=current_locale()), 401
    status = 400 if request.method == "POST" else 200
    return render_template("accounts/login.html", form=form, locale=current_locale()), status


@bp.post("/logout")
def logout():
    """Sign out (a POST with the CSRF token, so no other site can sign anyone out)."""
    logout_user()
    session.clear()
    return redirect(url_for("accounts.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
@limiter.limit(_login_limit_per_ip, methods=["POST"], scope="password-ip")
def change_password():
    """Change one's own password; every other session of the account ends."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if not verify_password(current_user.password_hash, form.current.data):
            form.current.errors.append(_("The current password is wrong."))
        else:
            try:
                set_password(current_user, form.password.data)
            except AccountError as err:
                form.password.errors.append(_(str(err)))
            else:
                db.session.commit()
                login_user(current_user)  # this session carries the new session version
                flash(_("Your password was changed. Other devices were signed out."))
                return redirect(url_for("dashboard.home"))
    return render_template("accounts/password.html", form=form, locale=current_locale(), reset=False)


@bp.route("/reset/<token>", methods=["GET", "POST"])
@limiter.limit(_login_limit_per_ip, methods=["POST"], scope="reset-ip")
def reset_password(token: str):
    """Choose a new password through a one-time link an administrator issued."""
    user = user_for_reset_token(db.session, token)
    if user is None:
        return render_template(
            "error.html", status=404, title=_("Link not valid"),
            message=_("This password link was already used or has expired. Ask an administrator for a new one."),
            locale=current_locale(),
        ), 404  # fmt: skip
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            set_password(user, form.password.data)
        except AccountError as err:
            form.password.errors.append(_(str(err)))
        else:
            db.session.commit()
            logout_user()
            session.clear()
            flash(_("Your new password is set. Sign in with it."))
            return redirect(url_for("accounts.login"))
    return render_template("accounts/password.html", form=form, locale=current_locale(), reset=True, email=user.email)


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit("10 per hour", methods=["POST"], scope="register-ip")
def register():
    """A public request to list an organization; it and its first editor wait for approval."""
    from mapservice.queries.dashboard import country_names
    from mapservice.services.accounts import ORG_KINDS, register_organization

    locale = current_locale()
    form = RegisterOrganizationForm()
    form.country.choices = [("", "—")] + list(country_names(db.session, locale).items())
    form.kind.choices = [("", "—")] + [(k, _(label)) for k, label in ORG_KINDS.items()]
    if form.validate_on_submit():
        try:
            register_organization(
                db.session, name=form.name.data, country=form.country.data, kind=form.kind.data,
                contact_name=form.contact_name.data, email=form.email.data, password=form.password.data,
            )  # fmt: skip
        except EmailTaken:
            # The same answer as a success: the page must not reveal which e-mails have accounts.
            db.session.rollback()
            return render_template("accounts/registered.html", locale=locale)
        except AccountError as err:
            db.session.rollback()
            message = str(err).lower()
            field = form.password if "password" in message else form.email if "e-mail" in message else form.name
            field.errors.append(_(str(err)))
        else:
            db.session.commit()
            return render_template("accounts/registered.html", locale=locale)
    return render_template("accounts/register.html", form=form, locale=locale), (400 if form.errors else 200)
