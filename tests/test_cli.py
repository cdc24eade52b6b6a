"""The `mapservice` commands: import, export, seed."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from sqlalchemy import text

SAMPLE = Path(__file__).parent / "data" / "listings-sample.csv"


def test_import_twice_then_export(cli, session, tmp_path):
    first = cli.invoke(args=["import", str(SAMPLE)])
    assert first.exit_code == 0, first.output
    assert "created 6" in first.output
    second = cli.invoke(args=["import", str(SAMPLE)])
    assert second.exit_code == 0 and "unchanged 6" in second.output

    out = tmp_path / "export.csv"
    result = cli.invoke(args=["export", "--format", "csv", "--output", str(out)])
    assert result.exit_code == 0, result.output
    hxl, *rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert hxl["organization"] == "#org" and hxl["latitude"] == "#geo+lat"
    assert len(rows) == 6
    shelter = next(r for r in rows if r["external_id"] == "ex-002")
    assert shelter["address"] == "" and shelter["confidential"] == "yes"
    assert shelter["latitude"] != "14.920100"

    # The export is itself a valid listing file: importing it changes nothing.
    again = cli.invoke(args=["import", str(out)])
    assert again.exit_code == 0 and "updated 1" in again.output  # the shelter's point is the public one

    result = cli.invoke(args=["export", "--format", "geojson", "--country", "mx"])
    collection = json.loads(result.output)
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 2


def test_import_refuses_bad_file_with_nonzero_exit(cli, session, tmp_path):
    bad = tmp_path / "bad.csv"
    text_ = SAMPLE.read_text(encoding="utf-8").replace("protection.mhpss", "protection.nope")
    bad.write_text(text_, encoding="utf-8")
    result = cli.invoke(args=["import", str(bad)])
    assert result.exit_code == 1
    assert "line 5: unknown category 'protection.nope'" in result.output
    assert session.execute(text("SELECT count(*) FROM service")).scalar_one() == 0


def test_dry_run(cli, session):
    result = cli.invoke(args=["import", "--dry-run", str(SAMPLE)])
    assert result.exit_code == 0 and "would create 6" in result.output
    assert session.execute(text("SELECT count(*) FROM service")).scalar_one() == 0


def test_export_rejects_unknown_country(cli):
    result = cli.invoke(args=["export", "--format", "csv", "--country", "US"])
    assert result.exit_code == 2


def test_seed_is_idempotent_and_covers_every_capital(cli, session):
    first = cli.invoke(args=["seed"])
    assert first.exit_code == 0, first.output
    counts = session.execute(
        text("SELECT (SELECT count(*) FROM organization WHERE is_demo), (SELECT count(*) FROM service WHERE is_demo), "
             "(SELECT count(DISTINCT declared_country) FROM location), (SELECT count(*) FROM service WHERE confidential)")  # fmt: skip
    ).one()
    assert counts[0] >= 20 and counts[1] >= 300 and counts[2] == 7 and counts[3] >= 3
    second = cli.invoke(args=["seed"])
    assert "created 0, updated 0" in second.output
    capitals = {"Belmopan": (17.251, -88.759), "San José": (9.9281, -84.0907), "San Salvador": (13.6929, -89.2182),
                "Guatemala": (14.6349, -90.5069), "Tegucigalpa": (14.0723, -87.1921),
                "Ciudad de México": (19.4326, -99.1332), "Panamá": (8.9824, -79.5199)}  # fmt: skip
    for name, (lat, lon) in capitals.items():
        near = session.execute(
            text("SELECT count(*) FROM location WHERE ST_DWithin(public_geom::geography, "
                 "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, 100000)"),  # fmt: skip
            {"lat": lat, "lon": lon},
        ).scalar_one()
        assert near >= 5, name
