"""HSDS 3.0 export and import: schema-valid, stable ids, lossless round trip."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft7Validator, FormatChecker
from sqlalchemy import text

from mapservice.services.hsds import (
    APPROXIMATE_NOTE,
    hours_from_schedules,
    hsds_schedules,
    hsds_services,
    object_id,
    simple_weekly_rules,
)
from tests.factories import listing, make_services

SCHEMA = json.loads((Path(__file__).parent.parent / "data" / "service_with_definitions.json").read_text())
VALIDATOR = Draft7Validator(SCHEMA, format_checker=FormatChecker())
SAMPLE = Path(__file__).parent.parent / "data" / "listings-sample.csv"


def _assert_valid(services):
    for service in services:
        errors = sorted(VALIDATOR.iter_errors(service), key=str)
        assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


def _empty_directory(session):
    session.execute(text("DELETE FROM service_at_location; DELETE FROM service; DELETE FROM location"))
    session.commit()  # a savepoint: the CLI's rollback of a refused file must not undo it


def test_every_exported_service_validates_and_keeps_the_listing(cli, session):
    assert cli.invoke(args=["import", str(SAMPLE)]).exit_code == 0
    result = cli.invoke(args=["export", "--format", "hsds"])
    assert result.exit_code == 0, result.output
    services = json.loads(result.output)
    assert len(services) == 6
    _assert_valid(services)
    asylum = next(s for s in services if s["name"] == "Orientación sobre asilo")
    sid = session.execute(text("SELECT id FROM service WHERE external_id = 'ex-001'")).scalar_one()
    assert asylum["id"] == object_id("service", sid)
    assert asylum["organization"]["name"] == "Ejemplo Albergue del Sur"
    location = asylum["service_at_locations"][0]["location"]
    assert (location["latitude"], location["longitude"]) == (14.9067, -92.2635)
    assert location["addresses"][0]["address_1"] == "Av. Central 10, Centro, Tapachula"
    assert [p["number"] for p in asylum["phones"]] == ["+529626251234", "+529626251234"]
    assert [lang["code"] for lang in asylum["languages"]] == ["es", "en", "ht"]
    assert asylum["languages"][2]["name"] == "Haitian"
    schedule = asylum["schedules"][0]
    assert (schedule["byday"], schedule["opens_at"], schedule["closes_at"]) == ("MO,TU,WE,TH,FR", "09:00", "15:00")
    assert schedule["description"] == "Mo-Fr 09:00-15:00"
    terms = {(a["taxonomy_term"]["taxonomy"], a["taxonomy_term"]["code"]): a.get("value") for a in asylum["attributes"]}
    assert ("mapservice", "protection.asylum") in terms and ("mapservice-populations", "refugees") in terms
    assert terms[("mapservice-fields", "external_id")] == "ex-001"
    legal = next(a["taxonomy_term"] for a in asylum["attributes"] if a["taxonomy_term"]["code"] == "protection.legal")
    assert legal["parent_id"] == object_id("taxonomy_term", "mapservice", "protection")
    # Stable ids: a second export is byte-identical.
    assert cli.invoke(args=["export", "--format", "hsds"]).output == result.output


def test_confidential_location_is_approximate_without_address(session):
    make_services(session, listing(name="Casa", lat=14.91234, lon=-92.25678, address="Calle Secreta 7",
                                   confidential=True))  # fmt: skip
    (service,) = hsds_services(session)
    _assert_valid([service])
    location = service["service_at_locations"][0]["location"]
    assert location["addresses"] == [] and location["description"] == APPROXIMATE_NOTE
    blob = json.dumps(service)
    assert "Secreta" not in blob and "14.9123" not in blob and "-92.2567" not in blob


def test_export_import_export_is_lossless(cli, session, tmp_path):
    assert cli.invoke(args=["import", str(SAMPLE)]).exit_code == 0
    make_services(session, listing(organization="Otra", hours="Mo-Fr 08:00-12:00,14:00-18:00; Sa 09:00-12:00; PH off",
                                   whatsapp="+529626251234", free=None, populations=["children"]))  # fmt: skip
    first = tmp_path / "first.json"
    assert cli.invoke(args=["export", "--format", "hsds", "--output", str(first)]).exit_code == 0
    exact = session.execute(text("SELECT ST_AsText(geom), ST_AsText(public_geom) FROM location ORDER BY id")).all()

    result = cli.invoke(args=["import", str(first)])
    assert result.exit_code == 0, result.output
    assert "unchanged 7" in result.output  # the confidential shelter keeps its exact point
    assert session.execute(text("SELECT ST_AsText(geom), ST_AsText(public_geom) FROM location ORDER BY id")).all() == exact
    second = cli.invoke(args=["export", "--format", "hsds"]).output
    assert json.loads(second) == json.loads(first.read_text())


def test_import_into_an_empty_directory_recreates_every_listing(cli, session, tmp_path):
    assert cli.invoke(args=["import", str(SAMPLE)]).exit_code == 0
    before = json.loads(cli.invoke(args=["export", "--format", "geojson"]).output)["features"]
    exported = tmp_path / "services.json"
    cli.invoke(args=["export", "--format", "hsds", "--output", str(exported)])
    _empty_directory(session)
    assert cli.invoke(args=["import", str(exported)]).exit_code == 0
    after = json.loads(cli.invoke(args=["export", "--format", "geojson"]).output)["features"]

    def comparable(feature):
        props = dict(feature["properties"], id=None, last_verified=None)
        props["organization"] = props["organization"]["name"]
        return feature["geometry"], props

    assert sorted(map(comparable, before), key=str) == sorted(map(comparable, after), key=str)


def test_bad_hsds_file_is_refused_whole_with_item_numbers(cli, session, tmp_path):
    assert cli.invoke(args=["import", str(SAMPLE)]).exit_code == 0
    services = json.loads(cli.invoke(args=["export", "--format", "hsds"]).output)
    _empty_directory(session)
    services[1]["attributes"] = [a for a in services[1]["attributes"] if a["taxonomy_term"]["taxonomy"] != "mapservice"]
    services[3]["service_at_locations"][0]["location"]["latitude"] = 40.0
    services[4] = "not a service"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(services), encoding="utf-8")
    result = cli.invoke(args=["import", str(bad)])
    assert result.exit_code == 1
    assert "item 4: the item must be an object" in result.output
    assert "item 1: categories is required" in result.output
    assert "item 3: the point (40, " in result.output
    assert session.execute(text("SELECT count(*) FROM service")).scalar_one() == 0


@pytest.mark.parametrize("content", ["{", "[]", '{"a": 1}', "[1, 2"])
def test_malformed_json_is_refused(cli, session, tmp_path, content):
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")
    result = cli.invoke(args=["import", str(bad)])
    assert result.exit_code == 1 and "item 0:" in result.output


def test_schedules_from_other_publishers_become_opening_hours():
    schedules = [
        {"id": "x", "byday": "MO,TU,WE", "opens_at": "08:00", "closes_at": "12:00"},
        {"id": "y", "byday": "MO,TU,WE", "opens_at": "14:00", "closes_at": "17:30"},
        {"id": "z", "byday": "SA", "opens_at": "09:00", "closes_at": "13:00"},
    ]
    assert hours_from_schedules(schedules) == "Mo,Tu,We 08:00-12:00,14:00-17:30; Sa 09:00-13:00"


def test_rich_hours_keep_only_the_original_string():
    (schedule,) = hsds_schedules("Mo-Fr 08:00-16:00; PH off", "u", 1)
    assert schedule["description"] == "Mo-Fr 08:00-16:00; PH off" and "byday" not in schedule
    assert simple_weekly_rules("24/7") == [(["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"], "00:00", "24:00")]
    assert simple_weekly_rules("Fr-Mo 10:00-14:00") == [(["Mo", "Fr", "Sa", "Su"], "10:00", "14:00")]
    # A later rule replaces the earlier ones for its days, as in OpenStreetMap.
    assert simple_weekly_rules("Mo-Fr 08:00-16:00; We 10:00-12:00") == [
        (["Mo", "Tu", "Th", "Fr"], "08:00", "16:00"), (["We"], "10:00", "12:00")]


@given(st.lists(st.tuples(st.sets(st.sampled_from(["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"]), min_size=1),
                          st.integers(0, 22)), min_size=1, max_size=4))  # fmt: skip
def test_simple_rules_survive_the_schedule_round_trip(rules):
    order = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"]
    hours = "; ".join(
        f"{','.join(sorted(days, key=order.index))} {h:02d}:00-{h + 1:02d}:30" for days, h in rules
    )
    schedules = hsds_schedules(hours, "u", 1)
    for schedule in schedules:
        schedule.pop("notes")
        schedule.pop("description")
    rebuilt = hours_from_schedules(schedules)
    assert simple_weekly_rules(rebuilt) == simple_weekly_rules(hours) or sorted(
        (tuple(d), o, c) for d, o, c in simple_weekly_rules(rebuilt)
    ) == sorted((tuple(d), o, c) for d, o, c in simple_weekly_rules(hours))
