"""`mapservice users create` and `mapservice tokens create` (administrators' tools)."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from mapservice.extensions import db
from mapservice.models import ROLES

users_cli = AppGroup("users", help="Manage user accounts.")
tokens_cli = AppGroup("tokens", help="Manage write-API tokens.")


@users_cli.command("create")
@click.option("--email", required=True, help="Sign-in e-mail.")
@click.option("--password", required=True, help="At least 8 characters, not a common password.")
@click.option("--role", type=click.Choice(ROLES), required=True, help="admin, cso_editor or ntt_viewer.")
@click.option("--org", "org_name", help="Organization of a cso_editor (created, verified, if missing).")
@click.option("--country", help="Country of an ntt_viewer (ISO 3166-1 alpha-2).")
def create_user_command(email: str, password: str, role: str, org_name: str | None, country: str | None) -> None:
    """Create a user; exits 1 with the reason when refused."""
    from mapservice.services.accounts import AccountError, create_user, get_or_create_organization

    try:
        org = None
        if org_name:
            org = get_or_create_organization(db.session, org_name, country.upper() if country else None)
        user = create_user(db.session, email, password, role, organization=org, country=country)
    except AccountError as err:
        db.session.rollback()
        raise click.ClickException(str(err)) from None
    db.session.commit()
    where = f" of {org.name}" if org is not None and role == "cso_editor" else ""
    where += f" for {user.country_code}" if user.country_code and role == "ntt_viewer" else ""
    click.echo(f"created {role} {user.email}{where}")


@users_cli.command("reset-link")
@click.option("--email", required=True)
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True, help="Public address of the site.")
def reset_link_command(email: str, base_url: str) -> None:
    """Print a one-time password link for a user (valid 48 hours); the last line is the link."""
    from mapservice.services.accounts import find_user, issue_reset_link_token

    user = find_user(db.session, email)
    if user is None:
        raise click.ClickException(f"no user with the e-mail {email}")
    token = issue_reset_link_token(user)
    db.session.commit()
    click.echo(f"{base_url.rstrip('/')}/reset/{token}")


@tokens_cli.command("create")
@click.option("--email", required=True, help="The user the token acts for.")
@click.option("--label", default="", help="What the token is for (shown in the dashboard).")
def create_token_command(email: str, label: str) -> None:
    """Create a write-API token; it is printed once, on the last line, and stored hashed."""
    from mapservice.services.accounts import AccountError, create_api_token, find_user

    user = find_user(db.session, email)
    if user is None:
        raise click.ClickException(f"no user with the e-mail {email}")
    try:
        new = create_api_token(db.session, user, label or "command line")
    except AccountError as err:
        raise click.ClickException(str(err)) from None
    db.session.commit()
    click.echo(f"token for {user.email} (shown once; store it now):")
    click.echo(new.secret)
