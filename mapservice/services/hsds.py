"""Open Referral HSDS 3.0: the public directory as service objects, and back to listings.

Export: one HSDS ``service`` per public service, with its ``organization``,
``service_at_locations`` -> ``location`` (the public point; a confidential location has no
address and says its point is approximate), ``phones``, ``schedules``, ``languages`` and
``attributes`` -> ``taxonomy_term``.  Every object id is a UUID 5 of :data:`NAMESPACE` and
our own ids, so the same row always gets the same id.

What HSDS has no field for travels as attributes of two small taxonomies of ours:

* ``mapservice`` — the category tree (``protection.legal`` under ``protection``);
* ``mapservice-populations`` — who a service is for;
* ``mapservice-fields`` — listing fields without an HSDS home, each an attribute whose
  ``value`` holds the data: ``external_id`` (the organization's own id for the listing, the
  import's upsert key), ``country`` (on the location), ``free`` and ``confidential``
  (``yes``/``no``).

Import (:func:`listing_rows`) maps such service objects back to the listing CSV's columns,
so they go through the same validator and set-based importer as a CSV.  Services from other
HSDS publishers work too: without our attributes the external id is the HSDS service id,
the country comes from the address, and categories are matched by taxonomy-term code.
"""
from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pycountry
from sqlalchemy import text
from sqlalchemy.orm import Session

from mapservice.queries.services import public_services, service_json

NAMESPACE = uuid.UUID("aef53e9b-a9c0-48f1-812d-c4895a44c5af")

CATEGORY_TAXONOMY = "mapservice"
POPULATION_TAXONOMY = "mapservice-populations"
FIELD_TAXONOMY = "mapservice-fields"
FIELD_TERMS = {
    "external_id": "The publishing organization's own id for this listing (unique within it).",
    "country": "ISO 3166-1 alpha-2 code of the country the location is in.",
    "free": "yes when the service is free of charge, no when fees apply.",
    "confidential": "yes when the exact place is confidential: the point published is approximate.",
}
TAXONOMY_DESCRIPTIONS = {
    CATEGORY_TAXONOMY: "Service categories of the MIRPS services map (protection, livelihoods, training).",
    POPULATION_TAXONOMY: "Population groups a service of the MIRPS services map is meant for.",
    FIELD_TAXONOMY: "Listing fields of the MIRPS services map that HSDS 3.0 has no field for.",
}
APPROXIMATE_NOTE = (
    "Approximate location: the exact place is confidential; this point is 1.5 to 3 km from it "
    "and there is no address. Contact the service by phone."
)
WHATSAPP = "WhatsApp"

DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_DAY_RE = r"(?:Mo|Tu|We|Th|Fr|Sa|Su)"
_DAYS_RE = rf"{_DAY_RE}(?:-{_DAY_RE})?(?:,{_DAY_RE}(?:-{_DAY_RE})?)*"
_TIME_RE = r"(?:[01]\d|2[0-4]):[0-5]\d"
_SPANS_RE = rf"{_TIME_RE}-{_TIME_RE}(?:,{_TIME_RE}-{_TIME_RE})*"
SIMPLE_RULE_RE = re.compile(rf"^(?P<days>{_DAYS_RE})\s+(?P<spans>{_SPANS_RE})$")


def object_id(*parts: object) -> str:
    """A stable UUID 5 for one of our objects, e.g. ``object_id("service", 12)``."""
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


# --------------------------------------------------------------------------- schedules


def _expand_days(days: str) -> list[str]:
    result: list[str] = []
    for part in days.split(","):
        first, _, last = part.partition("-")
        i, j = DAYS.index(first), DAYS.index(last or first)
        span = list(range(i, j + 1)) if i <= j else list(range(i, 7)) + list(range(0, j + 1))
        result.extend(DAYS[k] for k in span if DAYS[k] not in result)
    return result


def simple_weekly_rules(hours: str) -> list[tuple[list[str], str, str]] | None:
    """``[(days, opens, closes)]`` for hours made only of plain weekly rules, else ``None``.

    ``Mo-Fr 08:00-12:00,14:00-18:00; Sa 09:00-12:00`` maps to three rules; ``24/7`` to one
    rule over every day.  Anything richer (holidays, months, ``off``, sunrise…) is ``None``:
    the caller keeps only the original string.
    """
    value = hours.strip()
    if value == "24/7":
        return [(list(DAYS), "00:00", "24:00")]
    # As in OpenStreetMap, a later rule replaces the earlier ones for the days it names.
    per_day: dict[str, list[tuple[str, str]]] = {}
    for rule in value.split(";"):
        match = SIMPLE_RULE_RE.match(rule.strip())
        if not match:
            return None
        spans = [tuple(span.split("-")) for span in match["spans"].split(",")]
        for day in _expand_days(match["days"]):
            per_day[day] = spans  # type: ignore[assignment]
    grouped: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for day in DAYS:
        if day in per_day:
            grouped.setdefault(tuple(per_day[day]), []).append(day)
    return [(days, opens, closes) for spans, days in grouped.items() for opens, closes in spans] or None


def hsds_schedules(hours: str | None, service_uuid: str, service_id: int) -> list[dict[str, Any]]:
    """HSDS schedules for an OSM ``opening_hours`` string; the string itself is each one's
    ``description`` so nothing is lost when the rules are too rich for HSDS fields."""
    if not hours:
        return []
    rules = simple_weekly_rules(hours)
    base = {"service_id": service_uuid, "description": hours, "notes": "OpenStreetMap opening_hours"}
    if rules is None:
        return [{"id": object_id("schedule", service_id, 0), **base}]
    return [
        {
            "id": object_id("schedule", service_id, n),
            **base,
            "freq": "WEEKLY",
            "wkst": "MO",
            "byday": ",".join(d.upper() for d in days),
            "opens_at": opens,
            "closes_at": closes,
        }
        for n, (days, opens, closes) in enumerate(rules)
    ]


def hours_from_schedules(schedules: list[Mapping[str, Any]]) -> str:
    """The OSM ``opening_hours`` string of HSDS schedules.

    Our own exports carry it in ``description``; schedules from other publishers are
    rebuilt from weekly ``byday``/``opens_at``/``closes_at``.  Empty when neither exists.
    """
    for schedule in schedules:
        if schedule.get("notes") == "OpenStreetMap opening_hours" and schedule.get("description"):
            return str(schedule["description"])
    rules: dict[str, list[str]] = {}
    for schedule in schedules:
        byday, opens, closes = schedule.get("byday"), schedule.get("opens_at"), schedule.get("closes_at")
        if not (isinstance(byday, str) and isinstance(opens, str) and isinstance(closes, str)):
            continue
        days = [d.strip()[-2:].capitalize() for d in byday.split(",") if d.strip()]
        if not days or any(d not in DAYS for d in days):
            continue
        rules.setdefault(",".join(days), []).append(f"{opens[:5]}-{closes[:5]}")
    return "; ".join(f"{days} {','.join(spans)}" for days, spans in rules.items())


# --------------------------------------------------------------------------- export


def _taxonomy(name: str) -> dict[str, Any]:
    return {
        "id": object_id("taxonomy", name),
        "name": name,
        "description": TAXONOMY_DESCRIPTIONS[name],
        "version": "1",
    }


def _term(taxonomy: str, code: str, name: str, description: str, parent: str | None = None) -> dict[str, Any]:
    term = {
        "id": object_id("taxonomy_term", taxonomy, code),
        "code": code,
        "name": name,
        "description": description,
        "taxonomy": taxonomy,
        "taxonomy_id": object_id("taxonomy", taxonomy),
        "language": "en",
    }
    if parent:
        term["parent_id"] = object_id("taxonomy_term", taxonomy, parent)
    return term


def taxonomy_terms(session: Session) -> dict[str, dict[str, dict[str, Any]]]:
    """Every term of our taxonomies, by taxonomy name then code."""
    categories = session.execute(
        text("SELECT code, parent_code, label_en, label_es FROM category ORDER BY position, code")
    ).all()
    populations = session.execute(
        text("SELECT code, label_en, label_es FROM population ORDER BY position, code")
    ).all()
    return {
        CATEGORY_TAXONOMY: {
            code: _term(CATEGORY_TAXONOMY, code, en, f"{en} / {es}", parent)
            for code, parent, en, es in categories
        },
        POPULATION_TAXONOMY: {
            code: _term(POPULATION_TAXONOMY, code, en, f"{en} / {es}") for code, en, es in populations
        },
        FIELD_TAXONOMY: {
            code: _term(FIELD_TAXONOMY, code, code, description) for code, description in FIELD_TERMS.items()
        },
    }


def taxonomies() -> list[dict[str, Any]]:
    """Our three taxonomies as HSDS ``taxonomy`` objects."""
    return [_taxonomy(name) for name in TAXONOMY_DESCRIPTIONS]


def _attribute(link: tuple[str, str, object], term: dict[str, Any], value: str | None = None) -> dict[str, Any]:
    entity, link_uuid, key = link
    attribute = {
        "id": object_id("attribute", entity, key, term["taxonomy"], term["code"]),
        "link_id": link_uuid,
        "link_type": term["taxonomy"],
        "link_entity": entity,
        "taxonomy_term_id": term["id"],
        "taxonomy_term": term,
    }
    if value is not None:
        attribute["value"] = value
    return attribute


def _language(code: str, service_uuid: str, service_id: int) -> dict[str, Any]:
    found = pycountry.languages.get(alpha_2=code) if len(code) == 2 else pycountry.languages.get(alpha_3=code)
    language = {"id": object_id("language", service_id, code), "service_id": service_uuid, "code": code}
    if found is not None:
        language["name"] = found.name
    return language


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def hsds_location(row: Mapping[str, Any], terms: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The HSDS location of one public row: the public point; no address when confidential."""
    location_uuid = object_id("location", row["location_id"])
    public = service_json(dict(row), with_distance=False)["location"]
    location: dict[str, Any] = {
        "id": location_uuid,
        "location_type": "physical",
        "organization_id": object_id("organization", row["organization_id"]),
        "name": row["name"],
        "latitude": public["lat"],
        "longitude": public["lon"],
        "addresses": [],
        "attributes": [
            _attribute(("location", location_uuid, row["location_id"]), terms[FIELD_TAXONOMY]["country"],
                       row["declared_country"]),
        ],  # fmt: skip
    }
    if public["approximate"]:
        location["description"] = APPROXIMATE_NOTE
    elif public["address"]:
        location["addresses"].append(
            {
                "id": object_id("address", row["location_id"]),
                "location_id": location_uuid,
                "address_1": public["address"],
                "city": "",
                "state_province": row["admin_area_code"] or "",
                "postal_code": "",
                "country": row["declared_country"],
                "address_type": "physical",
            }
        )
    return location


def hsds_organization(row: Mapping[str, Any]) -> dict[str, Any]:
    """The HSDS organization of a row with ``organization_id``, ``organization_name`` and the
    organization's public ``organization_description``/``_email``/``_website``."""
    organization = {
        "id": object_id("organization", row["organization_id"]),
        "name": row["organization_name"],
        "description": row.get("organization_description") or "",
    }
    if row.get("organization_email"):
        organization["email"] = row["organization_email"]
    if row.get("organization_website"):
        organization["website"] = row["organization_website"]
    return organization


def hsds_service(rows: list[Mapping[str, Any]], terms: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One HSDS 3.0 service object from the public rows of one service (one per location)."""
    row = rows[0]
    sid = row["id"]
    service_uuid = object_id("service", sid)
    organization_uuid = object_id("organization", row["organization_id"])
    link = ("service", service_uuid, sid)
    attributes = [_attribute(link, terms[CATEGORY_TAXONOMY][c]) for c in row["categories"] if c in terms[CATEGORY_TAXONOMY]]
    attributes += [
        _attribute(link, terms[POPULATION_TAXONOMY][p]) for p in row["populations"] if p in terms[POPULATION_TAXONOMY]
    ]
    fields = terms[FIELD_TAXONOMY]
    attributes.append(_attribute(link, fields["external_id"], row["external_id"]))
    attributes.append(_attribute(link, fields["confidential"], _yes_no(bool(row["confidential"]))))
    if row["free"] is not None:
        attributes.append(_attribute(link, fields["free"], _yes_no(row["free"])))
    phones = []
    if row["phone"]:
        phones.append({"id": object_id("phone", sid, "phone"), "service_id": service_uuid,
                       "number": row["phone"], "type": "voice"})  # fmt: skip
    if row["whatsapp"]:
        phones.append({"id": object_id("phone", sid, "whatsapp"), "service_id": service_uuid,
                       "number": row["whatsapp"], "type": "text", "description": WHATSAPP})  # fmt: skip
    organization = hsds_organization(row)
    service: dict[str, Any] = {
        "id": service_uuid,
        "organization_id": organization_uuid,
        "name": row["name"],
        "description": row["description"] or "",
        "status": "active",
        "phones": phones,
        "schedules": hsds_schedules(row["hours"], service_uuid, sid),
        "service_at_locations": [
            {
                "id": object_id("service_at_location", r["service_at_location_id"]),
                "service_id": service_uuid,
                "location_id": object_id("location", r["location_id"]),
                "location": hsds_location(r, terms),
            }
            for r in rows
        ],
        "languages": [_language(code, service_uuid, sid) for code in row["languages"]],
        "organization": organization,
        "attributes": attributes,
    }
    if row["email"]:
        service["email"] = row["email"]
    if row["website"]:
        service["url"] = row["website"]
    if row["free"] is not None:
        service["fees_description"] = "Free of charge." if row["free"] else "Fees apply."
    if row["last_verified"]:
        service["assured_date"] = row["last_verified"].isoformat()
    if row["updated_at"]:
        service["last_modified"] = row["updated_at"].isoformat()
    if row["demo"]:
        service["alert"] = "Demo data: this service is fictional."
    return service


def hsds_services_from_rows(
    rows: Iterable[Mapping[str, Any]], terms: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """HSDS service objects from public export rows (one per service at a location, rows of
    one service together), in the rows' order."""
    grouped: dict[int, list[Mapping[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["id"], []).append(row)
    return [hsds_service(service_rows, terms) for service_rows in grouped.values()]


def hsds_services(session: Session, *, country: str | None = None, hide_after_days: int = 365) -> list[dict[str, Any]]:
    """The public directory as HSDS 3.0 service objects, ordered by our service id."""
    rows = public_services(session, country=country, hide_after_days=hide_after_days)
    return hsds_services_from_rows(rows, taxonomy_terms(session))


# --------------------------------------------------------------------------- API shapes


def service_list_item(service: Mapping[str, Any]) -> dict[str, Any]:
    """A service as the HSDS API lists it (``compiled/service_list.json``): its one-to-one
    fields and its ``organization``, without the arrays of child objects."""
    return {key: value for key, value in service.items() if not isinstance(value, list)}


def service_minimal_item(service: Mapping[str, Any]) -> dict[str, Any]:
    """A service as ``/services?minimal=true`` lists it: its ``id`` and ``modified_date``
    (the HSDS API's name for the time it last changed, our ``last_modified``)."""
    return {"id": service["id"], "modified_date": service.get("last_modified")}


def all_taxonomy_terms(terms: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Every term of :func:`taxonomy_terms` in one list: categories, populations, fields."""
    return [dict(term) for name in TAXONOMY_DESCRIPTIONS for term in terms[name].values()]


def hsds_page(contents: list[Any], *, total_items: int, page_number: int, per_page: int) -> dict[str, Any]:
    """The HSDS API ``Page`` envelope around one page of ``contents``.

    Pages count from 1; ``size`` is the number of items on this page.  A page past the last
    is empty, not the first and counted as last; no result at all is zero pages, and page 1
    of it is both first and last.
    """
    total_pages = -(-total_items // per_page)
    return {
        "total_items": total_items,
        "total_pages": total_pages,
        "page_number": page_number,
        "size": len(contents),
        "first_page": page_number == 1,
        "last_page": page_number >= total_pages,
        "empty": not contents,
        "contents": contents,
    }


# --------------------------------------------------------------------------- import


class NotAService(ValueError):
    """An array item that is not an HSDS service object we can read."""


def _attribute_values(attributes: object, taxonomy: str) -> list[tuple[str, str | None]]:
    """``(term code, value)`` of the attributes whose term belongs to ``taxonomy``."""
    found = []
    for attribute in attributes if isinstance(attributes, list) else []:
        if not isinstance(attribute, Mapping):
            continue
        term = attribute.get("taxonomy_term")
        if not isinstance(term, Mapping):
            continue
        detail = term.get("taxonomy_detail")
        name = term.get("taxonomy") or (detail.get("name") if isinstance(detail, Mapping) else None)
        if name == taxonomy and isinstance(term.get("code"), str):
            value = attribute.get("value")
            found.append((term["code"], value if isinstance(value, str) else None))
    return found


def _field(attributes: object, code: str) -> str | None:
    for term, value in _attribute_values(attributes, FIELD_TAXONOMY):
        if term == code:
            return value
    return None


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise NotAService(f"{what} must be an object")
    return value


def _list(value: object, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise NotAService(f"{what} must be an array")
    return value


def listing_row(service: object) -> dict[str, object]:
    """The listing-CSV columns of one HSDS service object (values still unvalidated).

    Raises :class:`NotAService` when the object's shape cannot be read at all; field
    values are left to the listing validator.
    """
    service = _mapping(service, "the item")
    organization = service.get("organization")
    organization = _mapping(organization, "organization") if organization is not None else {}
    at_locations = _list(service.get("service_at_locations"), "service_at_locations")
    if len(at_locations) > 1:
        raise NotAService(f"has {len(at_locations)} service_at_locations; one location per service is supported")
    location: Mapping[str, Any] = {}
    if at_locations:
        location = _mapping(_mapping(at_locations[0], "service_at_locations[0]").get("location"), "location")
    addresses = [a for a in _list(location.get("addresses"), "addresses") if isinstance(a, Mapping)]
    physical = next((a for a in addresses if a.get("address_type") in (None, "physical")), None)
    phones = [p for p in _list(service.get("phones"), "phones") if isinstance(p, Mapping)]
    whatsapp = next((p for p in phones if p.get("description") == WHATSAPP), None)
    voice = next((p for p in phones if p is not whatsapp), None)
    languages = [
        lang["code"] for lang in _list(service.get("languages"), "languages")
        if isinstance(lang, Mapping) and isinstance(lang.get("code"), str)
    ]  # fmt: skip
    attributes = service.get("attributes")
    free = _field(attributes, "free")
    confidential = _field(attributes, "confidential")
    country = _field(location.get("attributes"), "country") or (physical or {}).get("country")
    schedules = [s for s in _list(service.get("schedules"), "schedules") if isinstance(s, Mapping)]
    return {
        "organization": organization.get("name"),
        "external_id": _field(attributes, "external_id") or service.get("id"),
        "service_name": service.get("name"),
        "description": service.get("description"),
        "categories": [code for code, _ in _attribute_values(attributes, CATEGORY_TAXONOMY)],
        "populations": [code for code, _ in _attribute_values(attributes, POPULATION_TAXONOMY)],
        "languages": languages,
        "country": country,
        "address": (physical or {}).get("address_1"),
        "latitude": location.get("latitude"),
        "longitude": location.get("longitude"),
        "phone": (voice or {}).get("number"),
        "whatsapp": (whatsapp or {}).get("number"),
        "email": service.get("email"),
        "website": service.get("url"),
        "hours": hours_from_schedules(schedules),
        "free": free,
        "confidential": confidential,
        # Our own export's confidential points are already the generalized public point.
        "approximate": confidential == "yes" and location.get("description") == APPROXIMATE_NOTE,
    }


def read_hsds(data: bytes | str) -> Iterator[tuple[int, dict[str, object]]]:
    """Yield ``(index, listing row)`` for each service of an HSDS JSON array.

    The index is the item's position in the array (from 0).  A JSON object with a
    ``contents`` array (a page of an HSDS API) is read like the array.  Raises
    :class:`~mapservice.services.importer.ImportRefused` when the file is not such JSON.
    """
    import json

    from mapservice.services.importer import ImportRefused

    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ImportRefused([f"item 0: the file is not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise ImportRefused([f"item 0: not valid JSON ({exc})"]) from None
    if isinstance(document, Mapping) and isinstance(document.get("contents"), list):
        document = document["contents"]
    if not isinstance(document, list):
        raise ImportRefused(["item 0: an HSDS file must be a JSON array of service objects"])
    if not document:
        raise ImportRefused(["item 0: the array has no services"])
    for index, item in enumerate(document):
        try:
            yield index, listing_row(item)
        except NotAService as exc:
            yield index, {"__error__": str(exc)}


def looks_like_json(data: bytes) -> bool:
    """True when a file's content is JSON (an HSDS array) rather than a listing CSV."""
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1] in (b"[", b"{")
