"""The OpenAPI 3.1 document: valid, served as JSON and YAML and printed by `gateway openapi`, and
describing exactly what the routes do (methods, parameters, bodies, responses)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import make_client
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from starlette.testclient import TestClient

from gateway_core.cli import main

KIC = "/api/kic/v1"
PARTIJ_ID = "d89b93c9-e44c-5dad-b15a-1d9c929aba0c"  # the demo Partij with BSN 999993653
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def document(demo_client: TestClient) -> dict[str, Any]:
    response = demo_client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    result: dict[str, Any] = response.json()
    return result


def conforms(document: dict[str, Any], schema: dict[str, Any], instance: Any) -> list[str]:
    """Validation errors of `instance` against a schema of the document (its `$ref`s resolved)."""
    root = {**schema, "components": document["components"]}
    validator = Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]


def component(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"].startswith("Klantinteractie")


def test_json_yaml_and_the_command_agree(
    demo_client: TestClient, document: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    answer = demo_client.get("/api/openapi.yaml")
    assert answer.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(answer.text) == document
    assert main(["openapi", "--plugin", "customer-interaction"]) == 0
    assert json.loads(capsys.readouterr().out) == document
    assert main(["openapi", "--format", "yaml", "--plugin", "customer-interaction"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == document


def test_every_route_and_only_those_are_documented(
    demo_client: TestClient, document: dict[str, Any]
) -> None:
    """A documented method is served; any other answers 405 with the documented ones in Allow."""
    endpoints = [p for p in document["paths"] if p.startswith(KIC)]
    assert len(endpoints) == 20  # 10 collections and their items
    for path in endpoints:
        documented = {m for m in document["paths"][path] if m in METHODS}
        url = path.replace("{id}", str(uuid.uuid4()))
        for method in METHODS:
            kwargs: dict[str, Any] = {"json": {}} if method in ("post", "put", "patch") else {}
            response = demo_client.request(method.upper(), url, **kwargs)
            if method in documented:
                assert response.status_code != 405, (method, path)
                assert str(response.status_code) in document["paths"][path][method]["responses"]
            else:
                assert response.status_code == 405, (method, path)
                allowed = {m.strip().lower() for m in response.headers["allow"].split(",")}
                assert allowed - {"head", "options"} == documented, path


def test_the_seed_query_is_described_with_typed_filters(document: dict[str, Any]) -> None:
    parameters = {p["name"]: p for p in document["paths"][f"{KIC}/partijen"]["get"]["parameters"]}
    bsn = parameters["externeIdentificatie.partijIdentificator.objectId"]
    assert {"type": "string"} in bsn["schema"]["anyOf"]
    assert "any element" in bsn["description"]  # the path crosses an array
    assert {"type": "integer", "minimum": 1, "maximum": 1000, "default": 30}.items() <= parameters[
        "_limit"
    ]["schema"].items()
    assert {"type": "number"} in parameters["nummer"]["schema"]["anyOf"]
    assert {"type": "boolean"} in parameters["indicatieActief"]["schema"]["anyOf"]
    created = parameters["_self.dateCreated"]
    assert {"type": "string", "format": "date-time"} in created["schema"]["anyOf"]
    assert "after" in created["x-operators"] and "after" not in parameters["nummer"]["x-operators"]
    assert "like" not in parameters["nummer"]["x-operators"]
    order = parameters["_order"]
    assert order["style"] == "deepObject"
    assert order["schema"]["properties"]["nummer"] == {"type": "string", "enum": ["asc", "desc"]}
    operators = parameters["path[operator]"]["schema"]["patternProperties"]
    number_keys = [pattern for pattern, value in operators.items() if value == {"type": "number"}]
    assert any(re.match(pattern, "nummer[>=]") for pattern in number_keys)
    assert not any(re.match(pattern, "nummer[like]") for pattern in operators)
    assert parameters["_extend"]["schema"]["items"]["enum"][:2] == [
        "voorkeurskanaal",
        "verstrekteAdressen",
    ]


def test_real_answers_conform_to_the_document(
    demo_client: TestClient, document: dict[str, Any]
) -> None:
    seed = demo_client.get(
        f"{KIC}/partijen",
        params={
            "externeIdentificatie.partijIdentificator.objectId": "999993653",
            "externeIdentificatie.partijIdentificator.objecttype": "ingeschrevenpersoon",
        },
    )
    operation = document["paths"][f"{KIC}/partijen"]["get"]
    list_schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert conforms(document, list_schema, seed.json()) == []
    assert set(operation["responses"]["200"]["headers"]) == {"X-Total-Count", "Link"}
    partij = demo_client.get(f"{KIC}/partijen/{PARTIJ_ID}").json()
    assert partij["embedded"]["verstrekteAdressen"]  # related objects really are in the answer
    item_schema = {**component("Partij"), "required": ["id", "_self"]}
    assert conforms(document, item_schema, partij) == []
    projected = demo_client.get(
        f"{KIC}/partijen/{PARTIJ_ID}", params={"_fields": "persoon.voornaam"}
    )
    assert conforms(document, item_schema, projected.json()) == []
    taak = demo_client.get(f"{KIC}/taken", params={"_limit": 1}).json()["results"][0]
    assert taak["embedded"]["betrokkenen"][0]["partij"]["id"]  # a relation inside an array
    assert conforms(document, component("Taak"), taak) == []
    missing = demo_client.get(f"{KIC}/partijen/{uuid.uuid4()}")
    assert missing.headers["content-type"] == "application/problem+json"
    assert conforms(document, component("Problem"), missing.json()) == []
    # a document that lies is caught: the check is not vacuous
    assert conforms(document, item_schema, {**partij, "nummer": "one"}) != []


@pytest.mark.parametrize("form", ["nested", "uuid", "url", "absolute-url", "nested-with-id"])
def test_every_documented_relation_form_is_accepted(
    demo_client: TestClient, document: dict[str, Any], form: str
) -> None:
    choices = document["components"]["schemas"]["BerichtInput"]["properties"]["partij"]["anyOf"]
    url_pattern = next(c["pattern"] for c in choices if "pattern" in c)
    value: Any = {
        "nested": {
            "nummer": 9001,
            "interneNotitie": "nieuw",
            "indicatieGeheimhouding": False,
            "indicatieActief": True,
            "externeIdentificatie": [],
        },
        "uuid": PARTIJ_ID,
        "url": f"{KIC}/partijen/{PARTIJ_ID}",
        "absolute-url": f"http://testserver{KIC}/partijen/{PARTIJ_ID}",
        "nested-with-id": {"id": PARTIJ_ID, "interneNotitie": "gewijzigd via een bericht"},
    }[form]
    if isinstance(value, str) and form != "uuid":
        assert re.search(url_pattern, value)
    body = {"onderwerp": "Test", "gebruikerID": "999993653", "partij": value}
    assert conforms(document, component("BerichtInput"), body) == []
    created = demo_client.post(f"{KIC}/berichten", json=body)
    assert created.status_code == 201, created.json()
    response_schema = document["paths"][f"{KIC}/berichten"]["post"]["responses"]["201"]
    assert (
        conforms(document, response_schema["content"]["application/json"]["schema"], created.json())
        == []
    )


def test_a_patch_body_may_be_partial_and_null_removes(
    demo_client: TestClient, document: dict[str, Any]
) -> None:
    body = {"voorkeurstaal": None, "persoon": {"voornaam": "Janneke"}}
    assert conforms(document, component("PartijPatch"), body) == []
    assert conforms(document, component("PartijInput"), body) != []  # not a full Partij
    changed = demo_client.patch(f"{KIC}/partijen/{PARTIJ_ID}", json=body)
    assert changed.status_code == 200, changed.json()
    assert "voorkeurstaal" not in changed.json()
    assert changed.json()["persoon"]["voornaam"] == "Janneke"


def test_settings_shape_the_document(tmp_path: Path, book_schemas: Path) -> None:
    """A dropped-in schema gets its paths; base path and limits come from the settings."""
    with make_client(tmp_path, [book_schemas], base_path="/gw", max_limit=50) as client:
        document = client.get("/gw/openapi.json").json()
    validate(document)
    assert {"/gw/book", "/gw/book/{id}", "/gw/author", "/gw", "/health"} <= set(document["paths"])
    limit = next(
        p for p in document["paths"]["/gw/book"]["get"]["parameters"] if p["name"] == "_limit"
    )
    assert limit["schema"]["maximum"] == 50
    book = document["components"]["schemas"]["Book"]
    assert "required" not in book  # `_fields` may leave out anything
    assert document["components"]["schemas"]["BookInput"]["required"]
