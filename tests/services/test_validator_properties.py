"""Property tests for the listing validators and the CSV reader: any input gives a clean
value or a ValueError / ImportRefused with ``line N:`` messages, never another exception."""
from __future__ import annotations

import csv
import io
import math
import re

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from mapservice.services.importer import ImportRefused, read_listing_csv, validate_rows
from mapservice.services.listings import (
    COLUMNS,
    COUNTRIES,
    Vocabulary,
    is_valid_hours,
    parse_coordinate,
    parse_listing,
    parse_phone,
)

VOCAB = Vocabulary(frozenset({"protection", "protection.legal", "protection.shelter"}),
                   frozenset({"children", "women"}))  # fmt: skip
DECIMAL_RE = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", re.ASCII)
E164_RE = re.compile(r"\+[1-9]\d{6,14}")

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**500), max_value=10**500),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
)  # fmt: skip
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)  # noqa: E501
coordinate_text = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="0123456789.-+eE,_ \t", max_size=20),
    st.floats().map(repr),
    st.decimals(allow_nan=True).map(str),
)  # fmt: skip


@given(value=st.one_of(json_values, coordinate_text))
@example(value=10**400)
@example(value="1_000")
@example(value="١٢")
@example(value="12,5")
def test_coordinates_are_a_number_in_range_or_a_value_error(value):
    try:
        number = parse_coordinate(value, "latitude", -90, 90)
    except ValueError as exc:
        assert str(exc).startswith("latitude")
        return
    assert isinstance(number, float) and math.isfinite(number) and -90 <= number <= 90
    if isinstance(value, str):
        assert DECIMAL_RE.fullmatch(value.strip()), f"{value!r} is not a decimal number with a dot"


@given(st.floats(min_value=-180, max_value=180))
def test_every_coordinate_in_range_round_trips_through_text(x):
    assert parse_coordinate(repr(x), "longitude", -180, 180) == x
    assert parse_coordinate(x, "longitude", -180, 180) == x


phone_text = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="0123456789+-() .xext#*", max_size=25),
    st.from_regex(r"\+?(502|503|504|505|506|507|52|501) ?[0-9 ]{4,12}", fullmatch=True),
)


@given(value=st.one_of(phone_text, json_scalars), country=st.sampled_from(COUNTRIES + ("", "XX")))
@example(value=50212345678, country="GT")
@example(value="+502 2222 3333", country="GT")
def test_phones_are_e164_or_a_value_error_naming_the_field(value, country):
    try:
        phone = parse_phone(value, country, "phone")
    except ValueError as exc:
        assert str(exc).startswith("phone"), str(exc)
        return
    if phone is None:
        assert value is None or (isinstance(value, str) and not value.strip())
        return
    assert E164_RE.fullmatch(phone)
    assert phonenumbers.is_valid_number(phonenumbers.parse(phone))
    assert parse_phone(phone, country, "phone") == phone


hours_text = st.one_of(
    st.text(max_size=60),
    st.text(alphabet="MoTuWeThFrSaSuPH0123456789:-,; +offclosed\"[]/", max_size=60),
    st.lists(st.sampled_from(["Mo-Fr", "Sa", "08:00-16:00", "off", "24/7", ";", ",", "PH", "sunrise-sunset",
                              "Jan-Mar", "week 1-53/2", "+", "||", "\"x\"", "[1]", "easter"]),
             max_size=8).map(" ".join),
)  # fmt: skip


@given(hours_text)
@example("Mo-Fr 08:00-16:00")
def test_hours_validation_answers_true_or_false(value):
    assert is_valid_hours(value) in (True, False)


@given(st.dictionaries(st.sampled_from(COLUMNS + ("extra",)), json_values, max_size=len(COLUMNS)))
@settings(max_examples=150)
@example(raw={**dict.fromkeys(COLUMNS, "\ud800"), "latitude": [1], "longitude": 10**400, "phone": 5})
def test_parse_listing_never_raises(raw):
    listing, errors = parse_listing(raw, VOCAB, line=2)
    if listing is None:
        assert errors and all(isinstance(e, str) and e for e in errors)
    else:
        assert errors == []
        assert -90 <= listing.lat <= 90 and -180 <= listing.lon <= 180
        assert listing.country in COUNTRIES
        for text in (listing.name, listing.organization, listing.description, listing.address or ""):
            text.encode("utf-8")  # storable: no lone surrogates
            assert "\x00" not in text


# -- CSV files ------------------------------------------------------------------------------

VALID_ROW = {
    "organization": "Prop Org", "external_id": "p-1", "service_name": "Legal aid",
    "categories": "protection.legal", "country": "MX", "latitude": "14.9056",
    "longitude": "-92.2633", "phone": "+52 962 625 1234", "hours": "Mo-Fr 08:00-16:00",
    "free": "yes", "confidential": "no", "languages": "es;en",
}  # fmt: skip
hostile_cell = st.one_of(
    st.text(max_size=20),
    st.sampled_from(['"', '""', "\r", "\n", "\r\n", ",", "\x00", "\ufeff", "line 9: x", "1e999", "NaN",
                     "' OR 1=1 --", "99.5", "-200", "14,5", "yes", "maybe", "\u2028"]),
)  # fmt: skip


rarely = st.sampled_from([False, False, False, True])


@st.composite
def listing_files(draw) -> bytes:
    """CSV files near the valid shape: real columns, valid rows with hostile cells, odd quoting."""
    columns = draw(st.lists(st.sampled_from(COLUMNS + ("", "Latitude ", "bogus")), min_size=1, max_size=20,
                            unique=True) | st.just(list(VALID_ROW)))  # fmt: skip
    out = io.StringIO()
    writer = csv.writer(out, quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONE])),
                        escapechar="\\", lineterminator=draw(st.sampled_from(["\n", "\r\n", "\r"])))  # fmt: skip
    try:
        writer.writerow(columns)
        for n in range(draw(st.integers(0, 4))):
            valid = {**VALID_ROW, "external_id": f"p-{n}"}
            row = [valid.get(c.strip().lower(), "") for c in columns]
            for i in draw(st.lists(st.integers(0, len(columns) - 1), max_size=2)):
                row[i] = draw(hostile_cell)
            if draw(rarely):
                row.append(draw(hostile_cell))
            writer.writerow(row)
    except csv.Error:
        assume(False)
    text = out.getvalue()
    if draw(rarely):
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from(['"', "\x00", "\r", "", "\ufeff"])) + text[cut:]
    return text.encode("utf-8") + draw(st.sampled_from([b"", b"", b"", b"\xff", b"\xc3", b"\n\n"]))


@pytest.fixture(scope="module")
def vocabulary_session(app):
    """A read-only session for the validators' database look-ups (vocabulary, countries)."""
    from mapservice.extensions import db

    with app.app_context():
        yield db.session
        db.session.rollback()


@given(data=st.one_of(st.binary(max_size=300), listing_files()))
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(data=b"")
@example(data=b"\xef\xbb\xbf")
@example(data=b"organization,external_id\n")
@example(data=("organization,external_id,service_name,categories,country,latitude,longitude\n"
               "A,1,S,protection,MX,14.9,-92.26\nA,1,S,protection,MX,-92.26,14.9\n").encode())  # fmt: skip
def test_any_bytes_give_listings_or_line_numbered_refusals(vocabulary_session, data):
    try:
        listings = validate_rows(vocabulary_session, read_listing_csv(data))
    except ImportRefused as refused:
        event("refused")
        assert refused.errors
        for error in refused.errors:
            assert re.match(r"line [1-9]\d*: \S", error), error
        return
    finally:
        vocabulary_session.rollback()
    event("accepted")
    assert listings
    assert all(-90 <= x.lat <= 90 and x.country in COUNTRIES for x in listings)
