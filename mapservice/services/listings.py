"""Validation of one listing (a service at one location), shared by the CSV import,
the HSDS import and the write API.

A listing arrives as a mapping of the listing CSV's columns (see CONTRACT.md); values are
strings from a CSV, or JSON values (lists, booleans, numbers) from the API.  ``parse_listing``
returns a clean :class:`Listing` or the reasons it was refused; nothing here touches the
database except :func:`load_vocabulary`.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import opening_hours
import phonenumbers
import pycountry
from sqlalchemy import text

COUNTRIES = ("BZ", "CR", "SV", "GT", "HN", "MX", "PA")

COLUMNS = (
    "organization",
    "external_id",
    "service_name",
    "description",
    "categories",
    "populations",
    "languages",
    "country",
    "address",
    "latitude",
    "longitude",
    "phone",
    "whatsapp",
    "email",
    "website",
    "hours",
    "free",
    "confidential",
)
REQUIRED = ("organization", "external_id", "service_name", "categories", "country", "latitude", "longitude")

MAX_LENGTHS = {
    "organization": 300,
    "external_id": 200,
    "service_name": 300,
    "description": 5000,
    "address": 500,
    "email": 300,
    "website": 500,
    "hours": 500,
}
YES = {"yes", "y", "sí", "si", "true", "1"}
NO = {"no", "n", "false", "0"}
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # and lone surrogates
COMMA_DECIMAL_RE = re.compile(r"[-+]?\d+,\d+")
DECIMAL_RE = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", re.ASCII)


@dataclass(frozen=True)
class Vocabulary:
    """The codes a listing may use: categories and populations."""

    categories: frozenset[str]
    populations: frozenset[str]


@dataclass
class Listing:
    """A validated, normalized listing ready to be written."""

    organization: str
    external_id: str
    name: str
    description: str
    categories: list[str]
    populations: list[str]
    languages: list[str]
    country: str
    address: str | None
    lat: float
    lon: float
    phone: str | None
    whatsapp: str | None
    email: str | None
    website: str | None
    hours: str | None
    free: bool | None
    confidential: bool
    line: int = 0
    extra: dict[str, object] = field(default_factory=dict)


def load_vocabulary(session) -> Vocabulary:
    """Read the category and population codes from the database."""
    cats = session.execute(text("SELECT code FROM category")).scalars().all()
    pops = session.execute(text("SELECT code FROM population")).scalars().all()
    return Vocabulary(frozenset(cats), frozenset(pops))


def clean_text(value: object) -> str:
    """NFC-normalize and strip a text value; refuse control characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError("must be text")
    value = unicodedata.normalize("NFC", value).strip()
    if CONTROL_RE.search(value):
        raise ValueError("contains control characters")
    return value


def split_codes(value: object) -> list[str]:
    """A ``;``-separated string (CSV) or a JSON list of strings, as a de-duplicated list."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        parts = value.split(";")
    elif isinstance(value, (list, tuple)):
        if not all(isinstance(p, str) for p in value):
            raise ValueError("must be a list of text codes")
        parts = list(value)
    else:
        raise ValueError("must be a list of codes")
    seen: list[str] = []
    for part in parts:
        code = clean_text(part).lower()
        if code and code not in seen:
            seen.append(code)
    return seen


def parse_coordinate(value: object, name: str, low: float, high: float) -> float:
    """A decimal-degree coordinate within ``[low, high]``."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number")
    if isinstance(value, (int, float)):
        shown = repr(value) if abs(value) < 10**20 else "(a huge number)"
        try:
            number = float(value)
        except OverflowError:
            raise ValueError(f"{name} {shown} is out of range ({low:g} to {high:g})") from None
    else:
        try:
            raw = clean_text(value)
        except ValueError as exc:
            raise ValueError(f"{name} {exc}") from None
        shown = f"'{raw}'"
        if COMMA_DECIMAL_RE.fullmatch(raw):
            raise ValueError(f"{name} {shown} uses a comma: write decimal degrees with a dot")
        # float() also takes '1_000', 'infinity' and non-ASCII digits: only plain decimals pass.
        if not DECIMAL_RE.fullmatch(raw):
            raise ValueError(f"{name} {shown} is not a number")
        number = float(raw)
    if not math.isfinite(number):
        raise ValueError(f"{name} {shown} is not a finite number")
    if not low <= number <= high:
        raise ValueError(f"{name} {shown} is out of range ({low:g} to {high:g})")
    return number


def parse_phone(value: object, country: str, name: str) -> str | None:
    """A phone number in the row's country, returned as E.164."""
    try:
        raw = clean_text(value)
    except ValueError as exc:
        raise ValueError(f"{name} {exc}") from None
    if not raw:
        return None
    e164 = _e164(raw, country)
    if e164 is None:
        raise ValueError(f"{name} '{raw}' is not a phone number")
    if e164 == "":
        raise ValueError(f"{name} '{raw}' is not a valid phone number for {country}")
    return e164


@lru_cache(maxsize=65536)
def _e164(raw: str, country: str) -> str | None:
    """E.164 of ``raw`` in ``country``; ``None`` when unparseable, ``""`` when not valid.

    Cached: an organization's phone repeats on all its services, and parsing costs about
    0.2 ms (most of a bulk import's validation time).
    """
    try:
        number = phonenumbers.parse(raw, country if country in COUNTRIES else None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_flag(value: object, name: str) -> bool | None:
    """yes / no (also sí, true, false, 1, 0) or a JSON boolean; empty is unknown."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    raw = clean_text(value).lower()
    if raw in YES:
        return True
    if raw in NO:
        return False
    raise ValueError(f"{name} must be yes or no, not '{raw}'")


@lru_cache(maxsize=512)
def is_known_language(code: str) -> bool:
    """True for an ISO 639-1 (two letters) or ISO 639-3 (three letters) code."""
    if len(code) == 2:
        return pycountry.languages.get(alpha_2=code) is not None
    if len(code) == 3:
        return pycountry.languages.get(alpha_3=code) is not None
    return False


@lru_cache(maxsize=16384)
def is_valid_hours(value: str) -> bool:
    """True when ``value`` is valid OpenStreetMap ``opening_hours`` syntax."""
    try:
        return bool(opening_hours.validate(value))
    except Exception:  # the parser raises on some malformed input instead of returning False
        return False


def _is_plain_text_row(raw: Mapping[str, object]) -> bool:
    """True when every value is text that :func:`clean_text` would only strip.

    Checked once on the whole row (joined by newlines, which neither count as control
    characters nor combine with a neighbour in NFC), instead of field by field: a bulk
    import's rows are nearly always plain, and the rest take the field-by-field path.
    """
    try:
        joined = "\n".join(raw.values())  # type: ignore[arg-type]
    except TypeError:  # a value that is not text (JSON from the API)
        return False
    if CONTROL_RE.search(joined):
        return False
    return joined.isascii() or unicodedata.is_normalized("NFC", joined)


@lru_cache(maxsize=16384)
def _check_codes(value: str, column: str, known: frozenset[str] | None, what: str) -> tuple[list[str], tuple[str, ...]]:
    """The codes of a ``;``-separated cell and the reasons they fail (cached: cells repeat)."""
    try:
        values = split_codes(value)
    except ValueError as exc:
        return [], (f"{column} {exc}",)
    errors = []
    for code in values:
        if known is not None and code not in known:
            errors.append(f"unknown {what} '{code}'")
        elif known is None and not is_known_language(code):
            errors.append(f"unknown language code '{code}' (use ISO 639-1 or 639-3)")
    return values, tuple(errors)


@lru_cache(maxsize=65536)
def _check_phone(value: str, country: str, column: str) -> tuple[str | None, str | None]:
    """:func:`parse_phone` as (number, reason), cached: an organization's number repeats."""
    try:
        return parse_phone(value, country, column), None
    except ValueError as exc:
        return None, str(exc)


@lru_cache(maxsize=1024)
def _check_flag(value: str, column: str) -> tuple[bool | None, str | None]:
    """:func:`parse_flag` as (flag, reason), cached."""
    try:
        return parse_flag(value, column), None
    except ValueError as exc:
        return None, str(exc)


def parse_listing(raw: Mapping[str, object], vocab: Vocabulary, line: int = 0) -> tuple[Listing | None, list[str]]:
    """Validate one listing; return it normalized, or ``None`` and every reason it fails."""
    errors: list[str] = []
    plain = _is_plain_text_row(raw)

    def text_field(name: str) -> str:
        value = raw.get(name)
        if plain:
            value = value.strip() if value is not None else ""  # type: ignore[union-attr]
        else:
            try:
                value = clean_text(value)
            except ValueError as exc:
                errors.append(f"{name} {exc}")
                return ""
        limit = MAX_LENGTHS.get(name)
        if limit and len(value) > limit:
            errors.append(f"{name} is longer than {limit} characters")
        return value

    organization = text_field("organization")
    external_id = text_field("external_id")
    name = text_field("service_name")
    description = text_field("description")
    address = text_field("address")
    email = text_field("email")
    website = text_field("website")
    hours = text_field("hours")
    country = text_field("country").upper()

    for column in REQUIRED:
        value = raw.get(column)
        if value is None or (isinstance(value, str) and not value.strip()) or value == []:
            errors.append(f"{column} is required")

    if country and country not in COUNTRIES:
        errors.append(f"country '{country}' is not one of {' '.join(COUNTRIES)}")

    def codes(column: str, known: frozenset[str] | None, what: str) -> list[str]:
        value = raw.get(column)
        if isinstance(value, str):
            values, reasons = _check_codes(value, column, known, what)
            errors.extend(reasons)
            return list(values)
        try:
            values = split_codes(value)
        except ValueError as exc:
            errors.append(f"{column} {exc}")
            return []
        for code in values:
            if known is not None and code not in known:
                errors.append(f"unknown {what} '{code}'")
            elif known is None and not is_known_language(code):
                errors.append(f"unknown language code '{code}' (use ISO 639-1 or 639-3)")
        return values

    categories = codes("categories", vocab.categories, "category")
    populations = codes("populations", vocab.populations, "population")
    languages = codes("languages", None, "language")

    lat = lon = 0.0
    if raw.get("latitude") not in (None, ""):
        try:
            lat = parse_coordinate(raw.get("latitude"), "latitude", -90, 90)
        except ValueError as exc:
            errors.append(str(exc))
    if raw.get("longitude") not in (None, ""):
        try:
            lon = parse_coordinate(raw.get("longitude"), "longitude", -180, 180)
        except ValueError as exc:
            errors.append(str(exc))

    phones: dict[str, str | None] = {}
    for column in ("phone", "whatsapp"):
        value = raw.get(column)
        if isinstance(value, str):
            phones[column], reason = _check_phone(value, country, column)
            if reason:
                errors.append(reason)
            continue
        try:
            phones[column] = parse_phone(value, country, column)
        except ValueError as exc:
            errors.append(str(exc))
            phones[column] = None

    if email and not EMAIL_RE.match(email):
        errors.append(f"email '{email}' is not an e-mail address")
    if website and not URL_RE.match(website):
        errors.append(f"website '{website}' must start with http:// or https://")
    if hours and not is_valid_hours(hours):
        errors.append(f"hours '{hours}' is not OpenStreetMap opening_hours syntax (e.g. Mo-Fr 08:00-16:00)")

    flags: dict[str, bool | None] = {}
    for column in ("free", "confidential"):
        value = raw.get(column)
        if isinstance(value, str):
            flags[column], reason = _check_flag(value, column)
            if reason:
                errors.append(reason)
            continue
        try:
            flags[column] = parse_flag(value, column)
        except ValueError as exc:
            errors.append(str(exc))
            flags[column] = None

    if errors:
        return None, errors
    return (
        Listing(
            organization=organization,
            external_id=external_id,
            name=name,
            description=description,
            categories=categories,
            populations=populations,
            languages=languages,
            country=country,
            address=address or None,
            lat=lat,
            lon=lon,
            phone=phones["phone"],
            whatsapp=phones["whatsapp"],
            email=email or None,
            website=website or None,
            hours=hours or None,
            free=flags["free"],
            confidential=bool(flags["confidential"]),
            line=line,
        ),
        [],
    )
