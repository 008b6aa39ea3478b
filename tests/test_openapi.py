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

from gateway_core import __version__
from gateway_core.cli import main
from gateway_core.sections import read_auth

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


def test_server_version_and_contact_come_from_the_manifest(document: dict[str, Any]) -> None:
    """The major version is in the server URL; the full version is `info.version`."""
    assert document["servers"] == [{"url": KIC, "description": "this gateway"}]
    assert document["info"]["version"] == "1.0.0"
    assert set(document["info"]["contact"]) == {"name", "email", "url"}
    assert all(path.startswith("/") and not path.startswith(KIC) for path in document["paths"])


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
    endpoints = list(document["paths"])
    # 13 collections and their items (3 of them facades), and 10 audit trails
    assert len(endpoints) == 36
    for path in endpoints:
        documented = {m for m in document["paths"][path] if m in METHODS}
        url = KIC + path.replace("{id}", str(uuid.uuid4()))
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
    parameters = {p["name"]: p for p in document["paths"]["/partijen"]["get"]["parameters"]}
    equality = parameters["filter"]
    assert equality["style"] == "form" and equality["explode"] is True  # its own name is not sent
    filters = equality["schema"]["properties"]
    assert filters["externeIdentificatie.partijIdentificator.objectId"] == {"type": "string"}
    assert "any element" in equality["description"]  # a path may cross an array
    assert {"type": "integer", "minimum": 1, "maximum": 1000, "default": 30}.items() <= parameters[
        "limit"
    ]["schema"].items()
    assert {"type": "number"} in filters["nummer"]["anyOf"]
    assert {"type": "boolean"} in filters["indicatieActief"]["anyOf"]
    assert {"type": "string", "format": "date-time"} in filters["_self.dateCreated"]["anyOf"]
    at_least = parameters["greaterOrEqual"]["schema"]["properties"]
    assert at_least["nummer[>=]"] == {"type": "number"}
    assert "_self.dateCreated[>=]" in at_least
    assert "soortPartij[>=]" not in at_least  # the families type numbers and dates only
    every_name = {name for p in parameters.values() for name in p["schema"].get("properties", {})}
    assert "nummer[like]" not in every_name  # the gateway refuses it
    assert {"nummer", "-nummer"} <= set(parameters["order"]["schema"]["items"]["enum"])
    assert parameters["extend"]["schema"]["items"]["enum"][:2] == [
        "voorkeurskanaal",
        "verstrekteAdressen",
    ]


def test_parameter_names_are_lower_camel_case(document: dict[str, Any]) -> None:
    """NL API Design Rules /core/query-keys-camel-case; dotted paths live inside the families."""
    names = {
        p["name"]
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict)
        for p in operation.get("parameters", [])
        if p["in"] == "query"
    }
    assert names and all(re.fullmatch(r"[a-z][a-z0-9]*([A-Z][a-z0-9]*)*", n) for n in names)


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
    operation = document["paths"]["/partijen"]["get"]
    list_schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert conforms(document, list_schema, seed.json()) == []
    assert set(operation["responses"]["200"]["headers"]) == {"API-Version", "X-Total-Count", "Link"}
    assert seed.headers["API-Version"] == document["info"]["version"]
    partij = demo_client.get(f"{KIC}/partijen/{PARTIJ_ID}").json()
    assert partij["embedded"]["verstrekteAdressen"]  # related objects really are in the answer
    item_schema = component("Partij")
    assert document["components"]["schemas"]["Partij"]["required"] == ["id", "_self"]
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
    response_schema = document["paths"]["/berichten"]["post"]["responses"]["201"]
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
    assert document["servers"][0]["url"] == "/gw"
    assert {"/book", "/book/{id}", "/author"} <= set(document["paths"])
    limit = next(p for p in document["paths"]["/book"]["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 50
    book = document["components"]["schemas"]["Book"]
    assert book["required"] == ["id", "_self"]  # `_fields` may leave out anything else
    assert document["components"]["schemas"]["BookInput"]["required"]
    assert document["info"]["version"] == __version__  # no plugin manifest gives one


def _nodes(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value)


def test_components_are_what_code_generators_can_model(document: dict[str, Any]) -> None:
    """Unique titles (generators name models by them), no `$ref` with siblings that change its
    meaning, every array with `items`, and no read-only member in a request schema."""
    schemas = document["components"]["schemas"]
    assert all(schema["title"] == name for name, schema in schemas.items())
    for node in _nodes(document):
        if "$ref" in node:
            assert set(node) <= {"$ref", "description"}, node
        if node.get("type") == "array":
            assert "items" in node, node
    for name, schema in schemas.items():
        if name.endswith(("Input", "Patch", "New", "ById")):
            members = set(schema.get("properties", {}))
            assert not members & {"_self", "embedded"}, name
            assert ("id" in members) == name.endswith("ById"), name
    assert schemas["Partij"]["properties"]["id"]["readOnly"] is True
    assert schemas["Partij"]["properties"]["embedded"]["readOnly"] is True
    assert schemas["SelfMetadata"]["readOnly"] is True


def test_a_patch_may_not_remove_a_required_property(document: dict[str, Any]) -> None:
    patch = document["components"]["schemas"]["DigitaalAdresPatch"]
    assert conforms(document, component("DigitaalAdresPatch"), {"omschrijving": None}) != []
    assert {"type": "null"} not in patch["properties"]["adres"].get("anyOf", [])


def test_every_answer_documents_the_api_version_header(document: dict[str, Any]) -> None:
    responses = [
        response
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "responses" in operation
        for response in operation["responses"].values()
    ]
    shared = document["components"]["responses"]
    for response in responses:
        resolved = shared[response["$ref"].split("/")[-1]] if "$ref" in response else response
        assert "API-Version" in resolved["headers"]
    assert document["components"]["headers"]["API-Version"]["required"] is True


@pytest.mark.parametrize("method", ["put", "patch"])
def test_an_id_in_a_body_must_equal_the_url_id(
    tmp_path: Path, book_schemas: Path, method: str
) -> None:
    """Documented in the operation: accepted when equal (a read answer can be sent back)."""
    with make_client(tmp_path, [book_schemas]) as client:
        book = client.post("/api/book", json={"title": "Een", "isbn": "9789038896182"}).json()
        back = {**book, "title": "Twee"}
        assert client.request(method, f"/api/book/{book['id']}", json=back).status_code == 200
        other = {**back, "id": str(uuid.uuid4())}
        refused = client.request(method, f"/api/book/{book['id']}", json=other)
        assert refused.status_code == 400
        assert refused.json()["invalidParams"][0]["name"] == "id"
        document = client.get("/api/openapi.json").json()
    assert "equals the id in the URL" in document["paths"]["/book/{id}"][method]["description"]


# -- what the gateway layer added: security, audit trails, ETags, CSV, facades --------------------


def test_without_auth_the_document_has_no_security(document: dict[str, Any]) -> None:
    assert "securitySchemes" not in document["components"]
    assert all(
        "security" not in operation and "401" not in operation["responses"]
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "responses" in operation
    )


def test_with_auth_every_operation_names_its_scope(tmp_path: Path, book_schemas: Path) -> None:
    auth = {
        "anonymous": ["schemas.*.GET"],
        "clients": [{"id": "kiss", "api_key": "sleutel", "scopes": ["schemas.*.*"]}],
    }
    with make_client(tmp_path, [book_schemas], auth=read_auth(auth, "test")) as client:
        answer = client.get("/api/openapi.json")
        assert answer.status_code == 200  # open without credentials
        secured = answer.json()
    validate(secured)
    schemes = secured["components"]["securitySchemes"]
    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "apiKey", "name": "Authorization"}
    assert schemes["jwt"]["scheme"] == "bearer" and schemes["jwt"]["bearerFormat"] == "JWT"
    path = next(p for p in secured["paths"] if p.endswith("{id}") and "audittrail" not in p)
    read, delete = secured["paths"][path]["get"], secured["paths"][path]["delete"]
    assert {} in read["security"]  # anonymous may read
    assert {} not in delete["security"]
    (scope,) = delete["security"][0]["apiKey"]
    assert scope.startswith("schemas.https://") and scope.endswith(".DELETE")
    assert delete["security"][:2] == [{"apiKey": [scope]}, {"jwt": [scope]}]
    assert {"401", "403"} <= set(delete["responses"])


def test_items_document_etags_and_conditional_requests(
    demo_client: TestClient, document: dict[str, Any]
) -> None:
    item = document["paths"]["/partijen/{id}"]
    assert "ETag" in item["get"]["responses"]["200"]["headers"]
    assert "304" in item["get"]["responses"]
    assert "If-None-Match" in {p["name"] for p in item["get"]["parameters"]}
    for method in ("patch", "delete"):
        assert "412" in item[method]["responses"]
        assert "If-Match" in {p["name"] for p in item[method]["parameters"]}
    read = demo_client.get(f"{KIC}/partijen/{PARTIJ_ID}")
    again = demo_client.get(
        f"{KIC}/partijen/{PARTIJ_ID}", headers={"If-None-Match": read.headers["ETag"]}
    )
    assert again.status_code == 304 and again.headers["ETag"] == read.headers["ETag"]
    version = next(p for p in item["get"]["parameters"] if p["name"] == "version")
    assert version["schema"]["minimum"] == 1
    assert demo_client.get(f"{KIC}/partijen/{PARTIJ_ID}", params={"version": 1}).status_code == 200


def test_the_audit_trail_is_documented_and_answers_as_described(
    demo_client: TestClient, document: dict[str, Any]
) -> None:
    operation = document["paths"]["/partijen/{id}/audittrail"]["get"]
    assert operation["operationId"] == "listPartijenAuditTrail"
    trail = demo_client.get(f"{KIC}/partijen/{PARTIJ_ID}/audittrail", params={"limit": 100})
    assert trail.status_code == 200
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert conforms(document, schema, trail.json()) == []
    assert trail.json()["results"][-1]["action"] == "create"  # newest first
    assert "/klanten/{id}/audittrail" not in document["paths"]  # a facade has none
    assert demo_client.get(f"{KIC}/klanten/{PARTIJ_ID}/audittrail").status_code == 404


def test_lists_document_the_csv_export(demo_client: TestClient, document: dict[str, Any]) -> None:
    operation = document["paths"]["/partijen"]["get"]
    assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert parameters["format"]["schema"]["enum"] == ["json", "csv"]
    assert parameters["delimiter"]["schema"]["default"] == ";"
    export = demo_client.get(f"{KIC}/partijen", params={"format": "csv", "delimiter": ","})
    assert export.headers["content-type"].startswith("text/csv")
    assert export.text.lstrip("\ufeff").startswith("id,_self.dateCreated")
    facade = document["paths"]["/klanten"]["get"]
    assert set(facade["responses"]["200"]["content"]) == {"application/json"}
    assert demo_client.get(f"{KIC}/klanten", params={"format": "csv"}).status_code == 406


def test_facades_are_described_in_their_own_shapes(
    demo_client: TestClient, document: dict[str, Any]
) -> None:
    klanten = document["paths"]["/klanten"]
    assert klanten["get"]["tags"] == ["Klant"]
    body = klanten["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == component("KlantInput")
    schemas = document["components"]["schemas"]
    assert "id" not in schemas["KlantInput"]["properties"]  # read-only members are not sent
    assert schemas["KlantPatch"].get("required") is None
    filters = next(p for p in klanten["get"]["parameters"] if p["name"] == "filter")
    known = filters["schema"]["properties"]
    assert known["embedded.subjectIdentificatie.inpBsn"] == {"type": "string"}
    assert known["subjectType"]["enum"] == ["persoon", "organisatie", "contactpersoon"]
    found = demo_client.get(
        f"{KIC}/klanten", params={"embedded.subjectIdentificatie.inpBsn": "999993653"}
    )
    schema = klanten["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert found.json()["count"] == 1
    assert conforms(document, schema, found.json()) == []
    # what the document refuses, the gateway refuses, naming the facade's field
    refused = demo_client.post(f"{KIC}/klanten", json={"klantnummer": "12a"})
    assert refused.status_code == 400
    assert [p["name"] for p in refused.json()["invalidParams"]] == ["klantnummer"]
    assert conforms(document, schemas["KlantInput"], {"klantnummer": "12a"}) != []
