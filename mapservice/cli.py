"""The ``mapservice`` command: a Flask CLI group with the project's commands."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from mapservice.extensions import db


def _create_app():
    from mapservice import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False)
def main():
    """mapservice: services map for displaced people in Central America and Mexico.

    Set DATABASE_URL (default postgresql:///mapservice); run `mapservice db upgrade`,
    then `mapservice seed`, then `mapservice run`.
    """


@click.command("seed")
@click.option("--no-demo", is_flag=True, help="Load reference data only, no demo organizations or services.")
@with_appcontext
def seed_command(no_demo: bool) -> None:
    """Load countries, admin areas, taxonomy, populations, gazetteer and demo data.

    Running it twice changes nothing.
    """
    from mapservice.services.demo import seed_demo
    from mapservice.services.seed import seed_reference

    counts = seed_reference(db.session)
    db.session.commit()
    click.echo(", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items()))
    if not no_demo:
        report = seed_demo(db.session)
        db.session.commit()
        click.echo(f"demo data: {report.summary()}")


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate and count what would change; write nothing.")
@with_appcontext
def import_command(file: Path, dry_run: bool) -> None:
    """Import a listing CSV or an HSDS 3.0 JSON array of services (detected by content).

    Any invalid row refuses the whole file (exit status 1).
    """
    from mapservice.services.hsds import looks_like_json, read_hsds
    from mapservice.services.importer import (
        ImportRefused,
        lift_limits_for_bulk_import,
        read_listing_csv,
        validate_and_import,
    )

    data = file.read_bytes()
    # An administrator's bulk import validates and writes for longer than the web's
    # statement and idle-in-transaction timeouts allow (a 1,000,000-row file: minutes);
    # lifted for this transaction only.
    lift_limits_for_bulk_import(db.session)
    try:
        if looks_like_json(data):
            report = validate_and_import(db.session, read_hsds(data), label="item", dry_run=dry_run)
        else:
            report = validate_and_import(db.session, read_listing_csv(data), dry_run=dry_run)
    except ImportRefused as refused:
        db.session.rollback()
        for error in refused.errors:
            click.echo(error, err=True)
        click.echo(f"{file}: refused, nothing was written ({len(refused.errors)} bad row(s))", err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(("dry run, nothing written: " if dry_run else "") + report.summary())


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "geojson", "hsds"]), required=True, help="Output format.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default: standard output).")
@click.option("--country", help="Only this country (ISO 3166-1 alpha-2, e.g. MX).")
@with_appcontext
def export_command(fmt: str, output: Path | None, country: str | None) -> None:
    """Export the public view (confidential places generalized, no private fields)."""
    from mapservice.services import exporter
    from mapservice.services.listings import COUNTRIES

    if country is not None:
        country = country.upper()
        if country not in COUNTRIES:
            raise click.BadParameter(f"must be one of {' '.join(COUNTRIES)}", param_hint="--country")
    hide = current_app.config["VERIFY_HIDE_DAYS"]
    writer = {"csv": exporter.export_csv, "geojson": exporter.export_geojson, "hsds": exporter.export_hsds}[fmt]
    license = current_app.config["DATA_LICENSE"]
    extra = {"license": license} if fmt == "geojson" else {}
    content = writer(db.session, country=country, hide_after_days=hide, **extra)
    if output is None:
        sys.stdout.write(content)
    else:
        output.write_text(content, encoding="utf-8")
        click.echo(f"wrote {output} (data licence: {license})", err=True)


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup_command(file: Path) -> None:
    """Back up the database to FILE (pg_dump custom format, PostGIS version recorded)."""
    from mapservice.services.backup import BackupError, backup

    try:
        version = backup(current_app.config["SQLALCHEMY_DATABASE_URI"], file)
    except BackupError as err:
        click.echo(f"backup failed: {err}", err=True)
        sys.exit(1)
    click.echo(f"wrote {file} ({file.stat().st_size} bytes, PostGIS {version})")


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask before replacing the database's contents.")
@with_appcontext
def restore_command(file: Path, yes: bool) -> None:
    """Replace the database's contents with the backup in FILE (one transaction).

    Refuses a backup made with another PostGIS version than this server's.
    """
    from mapservice.services.backup import BackupError, restore

    if not yes:
        click.confirm(f"Replace everything in the database with {file}?", abort=True)
    db.session.remove()
    db.engine.dispose()  # our own idle connections must not hold locks on the tables
    try:
        version = restore(current_app.config["SQLALCHEMY_DATABASE_URI"], file)
    except BackupError as err:
        click.echo(f"restore refused: {err}", err=True)
        sys.exit(1)
    click.echo(f"restored {file} (PostGIS {version})")


@click.command("purge-feedback")
@click.option("--days", type=click.IntRange(min=0), default=None,
              help="Delete reports handled more than this many days ago "
                   "(default: MAPSERVICE_FEEDBACK_RETENTION_DAYS, 180).")  # fmt: skip
@with_appcontext
def purge_feedback_command(days: int | None) -> None:
    """Delete problem reports resolved or dismissed long ago (open ones are kept)."""
    from sqlalchemy import text

    if days is None:
        days = current_app.config["FEEDBACK_RETENTION_DAYS"]
    deleted = db.session.execute(
        text("DELETE FROM feedback WHERE state <> 'open' AND handled_at < now() - make_interval(days => :days)"),
        {"days": days},
    ).rowcount
    db.session.commit()
    click.echo(f"deleted {deleted} problem report(s) handled more than {days} days ago")


def register_cli(app: Flask) -> None:
    """Attach the commands to ``app.cli`` (so both `flask` and `mapservice` see them)."""
    for command in (seed_command, import_command, export_command, backup_command, restore_command,
                    purge_feedback_command):  # fmt: skip
        app.cli.add_command(command)
