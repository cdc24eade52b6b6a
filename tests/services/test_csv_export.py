"""The listing CSV export: HXL row, spreadsheet safety, and still re-importable."""
from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from mapservice.services.csvsafe import is_hxl_row, neutralize_formula, restore_formula
from mapservice.services.exporter import export_csv
from mapservice.services.importer import import_listings, read_listing_csv, validate_rows
from tests.factories import listing, make_services


def test_csv_has_bom_header_and_hxl_row(session):
    make_services(session, listing(organization="Acción Común", lat=14.9056, lon=-92.2633))
    content = export_csv(session)
    assert content.startswith("\ufefforganization,external_id,")
    header, hxl, row = list(csv.reader(io.StringIO(content.lstrip("\ufeff"))))
    assert is_hxl_row(hxl) and len(hxl) == len(header)
    tags = dict(zip(header, hxl))
    assert tags["organization"] == "#org" and tags["service_name"] == "#service+name"
    assert tags["categories"].startswith("#sector") and tags["admin1"] == "#adm1+code"
    assert tags["latitude"] == "#geo+lat" and tags["longitude"] == "#geo+lon" and tags["phone"] == "#contact+phone"
    values = dict(zip(header, row))
    assert values["organization"] == "Acción Común" and values["admin1"] == "MX-CHP"
    assert values["longitude"] == "-92.263300"  # numbers are not neutralized


def test_formula_cells_are_neutralized_and_come_back_on_import(session):
    make_services(
        session,
        listing(organization="=HYPERLINK(\"http://evil\")", name="+SUM(A1:A9)", description="-2+3 @home",
                address="@cmd|' /C calc'!A0", hours="Mo-Fr 08:00-16:00"),  # fmt: skip
    )
    content = export_csv(session)
    header, _, row = list(csv.reader(io.StringIO(content.lstrip("\ufeff"))))
    values = dict(zip(header, row))
    for column in ("organization", "service_name", "description", "address"):
        assert values[column].startswith("'"), column
    (listing_back,) = validate_rows(session, read_listing_csv(content.encode("utf-8")))
    assert listing_back.organization == '=HYPERLINK("http://evil")'
    assert listing_back.name == "+SUM(A1:A9)" and listing_back.description == "-2+3 @home"
    assert listing_back.address == "@cmd|' /C calc'!A0"
    report = import_listings(session, [listing_back])
    assert report.unchanged == 1


@given(st.text(alphabet=st.sampled_from("'=+-@\t\rab1.2 "), max_size=8))
def test_neutralizing_is_exactly_reversible(value):
    safe = neutralize_formula(value)
    assert restore_formula(safe) == value
    assert not safe[:1] in ("=", "+", "-", "@", "\t", "\r") or safe.lstrip("+-").replace(".", "", 1).isdigit()
