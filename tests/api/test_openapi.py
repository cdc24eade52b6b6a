"""The OpenAPI document: valid, complete, and true to the responses (schemathesis)."""
from __future__ import annotations

import re

import schemathesis
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from tests.factories import listing, make_services

# Views that are not API operations themselves: the viewer of this document and its files.
UNDOCUMENTED = {"api.docs", "api.docs_asset"}


def test_document_is_valid_openapi_3(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    validate(document)
    assert {"/api/v1/services/nearby", "/api/v1/services/{service_id}", "/ogc/collections/services/items",
            "/api/v1/services.geojson", "/hsds/services", "/hsds/services/{service_id}",
            "/hsds/taxonomy_terms"} <= set(document["paths"])  # fmt: skip


def test_every_api_ogc_and_hsds_route_is_documented(app, client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    documented = [(path, method.upper()) for path, ops in paths.items() for method in ops]
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in ("api", "ogc", "hsds") or rule.endpoint in UNDOCUMENTED:
            continue
        if rule.rule.endswith("/"):
            continue  # /ogc/ is /ogc
        # A documented path is the rule with {param} or, for expanded parameters, a value.
        pattern = re.compile("^" + re.sub(r"<[^>]+>", "[^/]+", re.escape(rule.rule).replace("\\<", "<").replace("\\>", ">")) + "$")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert any(pattern.match(path) and m == method for path, m in documented), (
                f"{method} {rule.rule}: add @openapi_doc(...) next to the view"
            )


def test_docs_viewer_is_served_by_the_app(client):
    page = client.get("/api/docs").get_data(as_text=True)
    assert "/api/docs/assets/swagger-ui-bundle.js" in page and "https://" not in page
    assert client.get("/api/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/api/docs/assets/index.html").status_code == 404
    assert "validatorUrl: null" in client.get("/static/api-docs.js").get_data(as_text=True)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_public_get_endpoints_conform(app, session, mode):
    """Schemathesis: bounded examples per public GET operation; no 5xx, responses match the schema."""
    make_services(
        session,
        listing(lat=14.9056, lon=-92.2633, categories=["protection.legal"], hours="Mo-Fr 08:00-16:00"),
        listing(lat=14.92, lon=-92.25, confidential=True, address="Secreta 1", categories=["protection.shelter"]),
    )
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app).include(method="GET")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:
        if operation.path == "/api/openapi.json":
            continue
        if mode == GenerationMode.NEGATIVE and not (list(operation.query) or list(operation.path_parameters)):
            continue  # nothing to make invalid

        # A bbox whose min latitude is above its max is a documented 400 that a schema cannot
        # rule out, so "every schema-valid request is accepted" is not checked there.
        takes_bbox = any(p.name == "bbox" for p in operation.query)
        excluded = [positive_data_acceptance] if takes_bbox else []
        if mode == GenerationMode.NEGATIVE:
            # Bad input must get a documented 4xx, never a 5xx; the server may be lenient
            # (spaces around numbers, upper-case codes), so acceptance is not a failure.
            excluded.append(negative_data_rejection)

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck),
                  phases=[Phase.explicit, Phase.generate])  # fmt: skip
        def check(case):
            case.call_and_validate(
                headers={"Accept-Encoding": "identity"},  # the WSGI transport does not inflate
                excluded_checks=excluded,
            )

        check()
