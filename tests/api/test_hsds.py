"""The read-only HSDS 3.0 API under /hsds: objects valid against the official schemas, the
Page envelope of HSDS's openapi.json, filters, errors, confidential places, consumers' headers."""
from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from jsonschema import Draft7Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7
from sqlalchemy import text

from mapservice.services.hsds import (
    APPROXIMATE_NOTE,
    CATEGORY_TAXONOMY,
    FIELD_TAXONOMY,
    POPULATION_TAXONOMY,
    hsds_services,
    object_id,
)
from tests.factories import listing, make_services

DATA = Path(__file__).parent.parent / "data"
HSDS = DATA / "hsds-3.0"
OPENAPI = json.loads((HSDS / "openapi.json").read_text())


def _registry() -> Registry:
    """Every per-object schema of HSDS 3.0, by the relative names their $refs use."""
    resources = [(p.name, Resource.from_contents(json.loads(p.read_text()), default_specification=DRAFT7))
                 for p in HSDS.glob("*.json") if p.name != "openapi.json"]  # fmt: skip
    return Registry().with_resources(resources)


REGISTRY = _registry()


def _validator(path: Path) -> Draft7Validator:
    return Draft7Validator(json.loads(path.read_text()), registry=REGISTRY, format_checker=FormatChecker())


VALIDATORS = {
    "service": _validator(DATA / "service_with_definitions.json"),
    "service_list": _validator(HSDS / "compiled" / "service_list.json"),
    "organization_list": _validator(HSDS / "compiled" / "organization_list.json"),
    "organization": _validator(HSDS / "organization.json"),
    "taxonomy": _validator(HSDS / "taxonomy.json"),
    "taxonomy_term": _validator(HSDS / "taxonomy_term.json"),
}


def assert_valid(kind: str, *items):
    assert items, "nothing to validate"
    for item in items:
        errors = sorted(VALIDATORS[kind].iter_errors(item), key=str)
        assert not errors, [f"{kind} {list(e.absolute_path)}: {e.message}" for e in errors[:5]]


def assert_page(body, *, total_items, page_number, per_page):
    """The envelope of HSDS's openapi.json (``Page`` + ``contents``) and its arithmetic."""
    assert set(body) == set(OPENAPI["components"]["schemas"]["Page"]["properties"]) | {"contents"}
    total_pages = math.ceil(total_items / per_page)
    expected_size = max(0, min(per_page, total_items - (page_number - 1) * per_page))
    assert body["total_items"] == total_items
    assert body["total_pages"] == total_pages
    assert body["page_number"] == page_number
    assert body["size"] == len(body["contents"]) == expected_size
    assert body["first_page"] is (page_number == 1)
    assert body["last_page"] is (page_number >= total_pages)
    assert body["empty"] is (expected_size == 0)


@pytest.fixture
def directory(session):
    """Five public services of two organizations (one confidential), one service of a
    pending organization and one deleted service."""
    ids = make_services(
        session,
        listing(organization="Albergue Sur", name="Orientación sobre asilo", categories=["protection.asylum"],
                populations=["refugees"], languages=["es", "en"], phone="+529626251234", hours="Mo-Fr 09:00-15:00",
                description="Asesoría legal gratuita", website="https://albergue.example.org"),
        listing(organization="Albergue Sur", name="Casa segura", categories=["protection.shelter"], confidential=True,
                lat=14.91234, lon=-92.25678, address="Calle Secreta 7", populations=["women"]),
        listing(organization="Albergue Sur", name="Clínica", categories=["protection.health"], free=None),
        listing(organization="Red Norte", name="Taller de costura", categories=["livelihoods"]),
        listing(organization="Red Norte", name="Cursos de inglés", categories=["training"]),
        listing(organization="Pendiente", name="Servicio oculto", categories=["training"]),
        listing(organization="Red Norte", name="Borrado", categories=["training"]),
    )  # fmt: skip
    session.execute(text("UPDATE organization SET status = 'pending' WHERE name = 'Pendiente'"))
    session.execute(text("UPDATE service SET deleted_at = now() WHERE id = :id"), {"id": ids[6]})
    session.flush()
    return ids


def _get(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, (url, response.get_data(as_text=True)[:500])
    assert response.mimetype == "application/json"
    return response.get_json()


def test_root_names_the_version_and_the_openapi_document(client):
    body = _get(client, "/hsds")
    assert body["version"] == "3.0"
    assert body["openapi_url"].endswith("/api/openapi.json")
    api_root = _get(client, "/api")
    assert any(link["href"].endswith("/hsds") for link in api_root["links"])


def test_services_list_validates_and_is_the_export(client, session, directory):
    body = _get(client, "/hsds/services")
    assert_page(body, total_items=5, page_number=1, per_page=50)
    assert_valid("service_list", *body["contents"])
    assert_valid("service", *body["contents"])
    exported = hsds_services(session)
    # The same mapping as the export, one-to-one fields only (plus organization).
    assert [s["id"] for s in body["contents"]] == [s["id"] for s in exported]
    for listed, full in zip(body["contents"], exported):
        assert listed == {k: v for k, v in full.items() if not isinstance(v, list)}
        assert "service_at_locations" not in listed and listed["organization"]["id"] == full["organization_id"]
    names = {s["name"] for s in body["contents"]}
    assert "Servicio oculto" not in names and "Borrado" not in names


def test_full_services_are_the_exported_objects(client, session, directory):
    body = _get(client, "/hsds/services?full=true&per_page=2&page=2")
    assert_page(body, total_items=5, page_number=2, per_page=2)
    assert_valid("service", *body["contents"])
    assert body["contents"] == hsds_services(session)[2:4]


def test_one_service_by_id(client, session, directory):
    body = _get(client, f"/hsds/services/{object_id('service', directory[0])}")
    assert_valid("service", body)
    assert body == hsds_services(session)[0]
    assert body["phones"][0]["number"] == "+529626251234"
    assert body["schedules"][0]["byday"] == "MO,TU,WE,TH,FR"
    location = body["service_at_locations"][0]["location"]
    assert location["addresses"][0]["address_1"].startswith("Calle")


def test_confidential_service_has_no_exact_point_or_address(client, session, directory):
    exact = session.execute(
        text("SELECT ST_Y(l.geom), ST_X(l.geom), ST_Y(l.public_geom), ST_X(l.public_geom) FROM location l "
             "JOIN service_at_location sal ON sal.location_id = l.id WHERE sal.service_id = :id"),
        {"id": directory[1]},
    ).one()  # fmt: skip
    assert (round(exact[0], 5), round(exact[1], 5)) == (14.91234, -92.25678)
    urls = [f"/hsds/services/{object_id('service', directory[1])}", "/hsds/services?full=true",
            f"/hsds/organizations/{object_id('organization', _org_id(session, 'Albergue Sur'))}?full_service=true",
            "/hsds/organizations?full=true&full_service=true"]  # fmt: skip
    for url in urls:
        blob = client.get(url).get_data(as_text=True)
        assert "Secreta" not in blob, url
        numbers = _numbers(json.loads(blob))
        # Numbers, not substrings; both coordinates (the public point may share one by chance).
        near_lat = any(abs(n - exact[0]) < 5e-4 for n in numbers)
        near_lon = any(abs(n - exact[1]) < 5e-4 for n in numbers)
        assert not (near_lat and near_lon), url
    body = _get(client, urls[0])
    location = body["service_at_locations"][0]["location"]
    assert location["addresses"] == [] and location["description"] == APPROXIMATE_NOTE
    assert (location["latitude"], location["longitude"]) == (round(exact[2], 6), round(exact[3], 6))


def _numbers(value):
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [value]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return []


def _org_id(session, name):
    return session.execute(text("SELECT id FROM organization WHERE name = :n"), {"n": name}).scalar_one()


@pytest.mark.parametrize("per_page", [1, 2, 3, 5, 7])
def test_paging_arithmetic_walks_every_service_once(client, directory, per_page):
    seen = []
    pages = math.ceil(5 / per_page)
    for page in range(1, pages + 2):  # one page past the last
        body = _get(client, f"/hsds/services?page={page}&per_page={per_page}")
        assert_page(body, total_items=5, page_number=page, per_page=per_page)
        seen += [s["id"] for s in body["contents"]]
    assert len(seen) == len(set(seen)) == 5


def test_far_page_and_no_results(client, directory):
    body = _get(client, "/hsds/services?page=10000000&per_page=500")
    assert_page(body, total_items=5, page_number=10000000, per_page=500)
    assert body["empty"] is True and body["last_page"] is True and body["first_page"] is False
    body = _get(client, "/hsds/services?search=zzzznothing")
    assert body == {"total_items": 0, "total_pages": 0, "page_number": 1, "size": 0, "first_page": True,
                    "last_page": True, "empty": True, "contents": []}  # fmt: skip


def _names(client, url):
    return sorted(s["name"] for s in _get(client, url)["contents"])


def test_service_filters(client, session, directory):
    protection = object_id("taxonomy_term", CATEGORY_TAXONOMY, "protection")
    asylum = object_id("taxonomy_term", CATEGORY_TAXONOMY, "protection.asylum")
    women = object_id("taxonomy_term", POPULATION_TAXONOMY, "women")
    free = object_id("taxonomy_term", FIELD_TAXONOMY, "free")
    populations = object_id("taxonomy", POPULATION_TAXONOMY)
    categories = object_id("taxonomy", CATEGORY_TAXONOMY)
    north = object_id("organization", _org_id(session, "Red Norte"))
    # A category term matches itself and the categories below it.
    assert _names(client, f"/hsds/services?taxonomy_term_id={protection}") == ["Casa segura", "Clínica", "Orientación sobre asilo"]
    assert _names(client, f"/hsds/services?taxonomy_term_id={asylum}") == ["Orientación sobre asilo"]
    assert _names(client, f"/hsds/services?taxonomy_term_id={women}") == ["Casa segura"]
    assert "Clínica" not in _names(client, f"/hsds/services?taxonomy_term_id={free}")
    assert _names(client, f"/hsds/services?taxonomy_id={populations}") == ["Casa segura", "Orientación sobre asilo"]
    assert len(_names(client, f"/hsds/services?taxonomy_id={categories}")) == 5
    # A term of another taxonomy than the one given, or ids that are not ours: nothing.
    assert _names(client, f"/hsds/services?taxonomy_term_id={women}&taxonomy_id={categories}") == []
    assert _names(client, f"/hsds/services?taxonomy_term_id={object_id('nothing', 1)}") == []
    assert _names(client, f"/hsds/services?taxonomy_id={object_id('nothing', 2)}") == []
    assert _names(client, f"/hsds/services?organization_id={north}") == ["Cursos de inglés", "Taller de costura"]
    assert _names(client, f"/hsds/services?organization_id={north.upper()}") == ["Cursos de inglés", "Taller de costura"]
    assert _names(client, f"/hsds/services?organization_id={object_id('organization', 0)}") == []
    # Search: every word, accents and case ignored, in the name, description or organization.
    assert _names(client, "/hsds/services?search=ORIENTACION") == ["Orientación sobre asilo"]
    assert _names(client, "/hsds/services?search=gratuita+legal") == ["Orientación sobre asilo"]
    assert _names(client, "/hsds/services?search=norte") == ["Cursos de inglés", "Taller de costura"]
    assert _names(client, "/hsds/services?search=100%25") == []  # a LIKE wildcard is a plain character
    # Filters add up (AND).
    assert _names(client, f"/hsds/services?organization_id={north}&search=ingles") == ["Cursos de inglés"]


def test_modified_after_and_minimal(client, session, directory):
    session.execute(text("UPDATE service SET updated_at = '2026-01-01T00:00:00Z'"))
    session.execute(text("UPDATE service SET updated_at = '2026-06-01T12:00:00Z' WHERE id = :id"), {"id": directory[3]})
    session.flush()
    assert _names(client, "/hsds/services?modified_after=2026-06-01T12:00:00Z") == ["Taller de costura"]
    assert _names(client, "/hsds/services?modified_after=2026-06-01T13:00:00%2B02:00") == ["Taller de costura"]
    assert _names(client, "/hsds/services?modified_after=2026-06-01T12:00:01Z") == []
    assert len(_names(client, "/hsds/services?modified_after=2026-01-01")) == 5
    body = _get(client, "/hsds/services?minimal=true&per_page=500")
    assert_page(body, total_items=5, page_number=1, per_page=500)
    taller = next(s for s in body["contents"] if s["id"] == object_id("service", directory[3]))
    assert taller == {"id": object_id("service", directory[3]), "modified_date": "2026-06-01T12:00:00+00:00"}
    assert all(set(s) == {"id", "modified_date"} for s in body["contents"])
    assert _get(client, "/hsds/services?minimal=true&full=true&per_page=500") == body  # minimal wins


def test_organizations(client, session, directory):
    body = _get(client, "/hsds/organizations")
    assert_page(body, total_items=2, page_number=1, per_page=50)  # not the pending one
    assert_valid("organization_list", *body["contents"])
    assert_valid("organization", *body["contents"])
    assert [o["name"] for o in body["contents"]] == ["Albergue Sur", "Red Norte"]
    assert all("services" not in o for o in body["contents"])
    assert [o["name"] for o in _get(client, "/hsds/organizations?search=red")["contents"]] == ["Red Norte"]
    body = _get(client, "/hsds/organizations?full=true&per_page=1&page=2")
    assert_page(body, total_items=2, page_number=2, per_page=1)
    (north,) = body["contents"]
    assert_valid("organization", north)
    assert sorted(s["name"] for s in north["services"]) == ["Cursos de inglés", "Taller de costura"]
    assert_valid("service_list", *north["services"])
    assert all("service_at_locations" not in s and "organization" not in s for s in north["services"])

    south_id = object_id("organization", _org_id(session, "Albergue Sur"))
    south = _get(client, f"/hsds/organizations/{south_id}")
    assert_valid("organization", south)
    assert south["id"] == south_id and len(south["services"]) == 3
    full = _get(client, f"/hsds/organizations/{south_id}?full_service=true")
    assert_valid("organization", full)
    assert_valid("service", *full["services"])
    exported = {s["id"]: s for s in hsds_services(session)}
    for service in full["services"]:
        assert service == {k: v for k, v in exported[service["id"]].items() if k != "organization"}
    pending = object_id("organization", _org_id(session, "Pendiente"))
    assert _get(client, f"/hsds/organizations/{pending}", 404)["error"]["code"] == "not_found"


def test_taxonomies_and_terms(client, session):
    body = _get(client, "/hsds/taxonomies")
    assert_page(body, total_items=3, page_number=1, per_page=50)
    assert_valid("taxonomy", *body["contents"])
    assert [t["name"] for t in body["contents"]] == [CATEGORY_TAXONOMY, POPULATION_TAXONOMY, FIELD_TAXONOMY]
    one = body["contents"][1]
    assert _get(client, f"/hsds/taxonomies/{one['id']}") == one
    assert [t["name"] for t in _get(client, "/hsds/taxonomies?search=population")["contents"]] == [POPULATION_TAXONOMY]

    n_categories = session.execute(text("SELECT count(*) FROM category")).scalar_one()
    n_populations = session.execute(text("SELECT count(*) FROM population")).scalar_one()
    total = n_categories + n_populations + 4
    body = _get(client, "/hsds/taxonomy_terms?per_page=7&page=2")
    assert_page(body, total_items=total, page_number=2, per_page=7)
    everything = []
    for page in range(1, math.ceil(total / 100) + 1):
        everything += _get(client, f"/hsds/taxonomy_terms?per_page=100&page={page}")["contents"]
    assert_valid("taxonomy_term", *everything)
    assert len({t["id"] for t in everything}) == total
    legal = next(t for t in everything if t["code"] == "protection.legal")
    assert _get(client, f"/hsds/taxonomy_terms/{legal['id']}") == legal

    protection = object_id("taxonomy_term", CATEGORY_TAXONOMY, "protection")
    children = _get(client, f"/hsds/taxonomy_terms?parent_id={protection}&per_page=500")["contents"]
    assert children and all(t["code"].startswith("protection.") for t in children)
    top = _get(client, f"/hsds/taxonomy_terms?top_only=true&taxonomy_id={object_id('taxonomy', CATEGORY_TAXONOMY)}")
    assert {"protection", "livelihoods", "training"} <= {t["code"] for t in top["contents"]}
    assert all("parent_id" not in t and t["taxonomy"] == CATEGORY_TAXONOMY for t in top["contents"])
    fields = _get(client, f"/hsds/taxonomy_terms?taxonomy_id={object_id('taxonomy', FIELD_TAXONOMY)}")
    assert sorted(t["code"] for t in fields["contents"]) == ["confidential", "country", "external_id", "free"]
    assert [t["code"] for t in _get(client, "/hsds/taxonomy_terms?search=ASILO+condicion")["contents"]] == ["protection.asylum"]


@pytest.mark.parametrize("url", [
    "/hsds/services?page=0", "/hsds/services?page=-1", "/hsds/services?page=x", "/hsds/services?page=10000001",
    "/hsds/services?per_page=0", "/hsds/services?per_page=501", "/hsds/services?per_page=1.5",
    "/hsds/services?full=yes please", "/hsds/services?minimal=2",
    "/hsds/services?taxonomy_term_id=protection", "/hsds/services?taxonomy_id=1",
    "/hsds/services?organization_id=12", "/hsds/services?modified_after=yesterday",
    "/hsds/services?modified_after=2026-02-30", "/hsds/services?format=ndjson", "/hsds/services?format=xml",
    "/hsds/services?search=%00", "/hsds/services?search=" + "a" * 201, "/hsds/services?postcode=12345",
    "/hsds/services?category=protection", "/hsds/organizations?page=0", "/hsds/organizations?full_service=maybe",
    "/hsds/taxonomies?per_page=1000", "/hsds/taxonomy_terms?top_only=x", "/hsds/taxonomy_terms?parent_id=abc",
    "/hsds/taxonomy_terms?organization_id=" + "0" * 8, "/hsds?x=1",
])  # fmt: skip
def test_bad_parameters_are_json_400(client, url):
    body = _get(client, url, 400)
    assert set(body["error"]) >= {"code", "message"}


@pytest.mark.parametrize("path", ["services", "organizations", "taxonomies", "taxonomy_terms"])
def test_unknown_or_malformed_ids_are_json_404(client, path):
    assert _get(client, f"/hsds/{path}/{object_id('nothing', path)}", 404)["error"]["code"] == "not_found"
    assert _get(client, f"/hsds/{path}/12", 404)["error"]["code"] == "not_found"


def test_hidden_services_are_404(client, directory):
    for hidden in (directory[5], directory[6]):  # pending organization, deleted
        _get(client, f"/hsds/services/{object_id('service', hidden)}", 404)


def test_lookup_by_hsds_id_uses_the_index(session, directory):
    """The SQL UUID 5 equals the mapping's ids, and the migration's indexes serve the lookup."""
    from mapservice.queries.hsds import ORGANIZATION_HSDS_ID, SERVICE_HSDS_ID

    row = session.execute(text(f"SELECT s.id, {SERVICE_HSDS_ID}::text, {ORGANIZATION_HSDS_ID}::text "
                               "FROM service s JOIN organization o ON o.id = s.organization_id LIMIT 1")).one()  # fmt: skip
    assert row[1] == object_id("service", row[0])
    session.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(r[0] for r in session.execute(
        text(f"EXPLAIN SELECT id FROM service s WHERE {SERVICE_HSDS_ID} = CAST(:id AS uuid)"), {"id": row[1]}))
    assert "ix_service_hsds_id" in plan
    plan = "\n".join(r[0] for r in session.execute(
        text(f"EXPLAIN SELECT id FROM organization o WHERE {ORGANIZATION_HSDS_ID} = CAST(:id AS uuid)"), {"id": row[2]}))
    assert "ix_organization_hsds_id" in plan


def test_consumer_headers_as_on_the_other_public_apis(client, directory):
    response = client.get("/hsds/services", headers={"Origin": "https://partner.example"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Cache-Control"] == "public, max-age=60"
    etag = response.headers["ETag"]
    again = client.get("/hsds/services", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    preflight = client.options("/hsds/taxonomies", headers={
        "Origin": "https://partner.example", "Access-Control-Request-Method": "GET"})  # fmt: skip
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "Set-Cookie" not in response.headers


def test_rate_limit_is_the_shared_public_budget(app, client):
    app.config["PUBLIC_RATE_LIMIT"] = "3 per minute"
    try:
        statuses = [client.get("/hsds/taxonomies").status_code for _ in range(2)]
        statuses.append(client.get("/ogc/conformance").status_code)
        over = client.get("/hsds/taxonomies")
    finally:
        app.config["PUBLIC_RATE_LIMIT"] = "100000 per minute"
    assert statuses == [200, 200, 200]
    assert over.status_code == 429 and over.is_json and int(over.headers["Retry-After"]) > 0


def test_modified_after_accepts_offsets_and_edges(client, directory):
    for value in ("2026-11-29T17:00:00Z", "2026-11-29t17:00:00.123456789-06:00", "0000-01-01T00:00:00+23:59",
                  "9999-12-31T23:59:60Z", "2026-11-29"):  # fmt: skip
        assert _get(client, "/hsds/services?modified_after=" + value.replace("+", "%2B"))["empty"] in (True, False)
    future = (datetime.now(timezone.utc) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _names(client, f"/hsds/services?modified_after={future}") == []
