"""Forms of the account pages (Flask-WTF: every form carries a CSRF token)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    """E-mail and password."""

    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=300)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


class NewPasswordForm(FlaskForm):
    """A new password, typed twice (reset links)."""

    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=256)])
    confirm = PasswordField(
        _l("New password again"), validators=[DataRequired(), EqualTo("password", _l("The two passwords differ."))]
    )


class ChangePasswordForm(NewPasswordForm):
    """The current password, then a new one twice."""

    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=256)])


class RegisterOrganizationForm(FlaskForm):
    """A public request to list an organization's services (an administrator approves it)."""

    name = StringField(_l("Organization name"), validators=[DataRequired(), Length(max=300)])
    country = SelectField(_l("Country"), validators=[DataRequired()])
    kind = SelectField(_l("Type of organization"), validators=[DataRequired()])
    contact_name = StringField(_l("Contact person"), validators=[DataRequired(), Length(max=200)])
    email = EmailField(_l("Contact e-mail (you will sign in with it)"), validators=[DataRequired(), Length(max=300)])
    password = PasswordField(_l("Password (at least 8 characters)"), validators=[DataRequired(), Length(max=256)])
    confirm = PasswordField(
        _l("Password again"), validators=[DataRequired(), EqualTo("password", _l("The two passwords differ."))]
    )
