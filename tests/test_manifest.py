"""Plugin manifests (CG installation.json) and the endpoints built from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import AUTHOR_ID, BOOK_ID, write_json

from gateway_core.app import load_gateway
from gateway_core.config import Settings
from gateway_core.errors import SchemaError
from gateway_core.manifest import ALL_METHODS, Endpoint, build_endpoints, read_manifest
from gateway_core.plugins import Plugin
from gateway_core.schemas.registry import SchemaSet, load_schemas

DRAFT = "https://json-schema.org/draft/2020-12/schema"
LIB = "https://example.org/lib/"
SHELF_ID = LIB + "shelf.schema.json"
LABEL_ID = LIB + "label.schema.json"
COLLECTION_ID = "https://example.org/collection/lib.collection.json"


@pytest.fixture
def library(tmp_path: Path, book_schemas: Path) -> SchemaSet:
    """book + author (unclaimed) and shelf + label under the plugin's schemaPrefix."""
    for schema_id, title in ((SHELF_ID, "Shelf"), (LABEL_ID, "Label")):
        write_json(
            book_schemas / f"{title.lower()}.json",
            {
                "$schema": DRAFT,
                "$id": schema_id,
                "title": title,
                "type": "object",
                "properties": {"name": {"type": "string"}},
            },
        )
    return load_schemas([book_schemas])


def manifest_file(
    folder: Path, endpoints: list[dict[str, Any]], prefix: str | None = "lib/v1"
) -> Path:
    collection: dict[str, Any] = {"reference": COLLECTION_ID, "schemaPrefix": LIB}
    if prefix is not None:
        collection["prefix"] = prefix
    return write_json(
        folder / "installation.json",
        {
            "collections": [collection],
            "endpoints": {"schemas": endpoints},
        },
    )


def endpoints_of(schemas: SchemaSet, path: Path) -> dict[str, Endpoint]:
    return {e.route: e for e in build_endpoints(schemas, [read_manifest(path, "lib")])}


def test_collection_prefix_inline(tmp_path: Path, library: SchemaSet) -> None:
    path = manifest_file(
        tmp_path / "plugin", [{"reference": SHELF_ID, "path": "/shelves/"}], prefix="/lib/v1/"
    )
    manifest = read_manifest(path, "lib")
    assert manifest.name == "lib"
    assert manifest.prefix_for(SHELF_ID) == "lib/v1"
    routes = endpoints_of(library, path)
    assert routes["/lib/v1/shelves"].schema_id == SHELF_ID


def test_collection_prefix_from_a_collection_file(tmp_path: Path, library: SchemaSet) -> None:
    folder = tmp_path / "plugin"
    write_json(
        folder / "Collection" / "lib.collection.json",
        {
            "$id": COLLECTION_ID,
            "$schema": "https://docs.commongateway.nl/schemas/CollectionEntity.schema.json",
            "prefix": "lib/v2",
        },
    )
    path = manifest_file(folder, [{"reference": SHELF_ID, "path": "shelves"}], prefix=None)
    assert "/lib/v2/shelves" in endpoints_of(library, path)


def test_collection_without_any_prefix_is_an_error(tmp_path: Path) -> None:
    path = manifest_file(tmp_path / "plugin", [], prefix=None)
    with pytest.raises(SchemaError) as caught:
        read_manifest(path)
    assert caught.value.pointer == "/collections/0"
    assert "installation.json" in str(caught.value)


@pytest.mark.parametrize("methods", [None, []])
def test_missing_or_empty_methods_mean_all(
    tmp_path: Path, library: SchemaSet, methods: Any
) -> None:
    spec: dict[str, Any] = {"reference": SHELF_ID, "path": "shelves"}
    if methods is not None:
        spec["methods"] = methods
    path = manifest_file(tmp_path / "plugin", [spec])
    assert endpoints_of(library, path)["/lib/v1/shelves"].methods == frozenset(ALL_METHODS)


def test_duplicate_methods_are_removed_and_case_ignored(tmp_path: Path, library: SchemaSet) -> None:
    path = manifest_file(
        tmp_path / "plugin",
        [
            {
                "reference": SHELF_ID,
                "path": "shelves",
                "methods": ["GET", "post", "GET", "POST"],
                "throws": ["lib.shelf.read"],
            },
        ],
    )
    spec = read_manifest(path).endpoints[0]
    assert spec.methods == ("GET", "POST")
    endpoint = endpoints_of(library, path)["/lib/v1/shelves"]
    assert endpoint.methods == frozenset({"GET", "POST"})
    assert endpoint.throws == ("lib.shelf.read",)
    assert endpoint.allowed(["GET", "PUT", "POST"]) == ["GET", "POST"]


def test_unknown_method_is_a_schema_error(tmp_path: Path) -> None:
    path = manifest_file(
        tmp_path / "plugin",
        [
            {"reference": SHELF_ID, "path": "shelves", "methods": ["GET", "FETCH"]},
        ],
    )
    with pytest.raises(SchemaError) as caught:
        read_manifest(path)
    assert caught.value.pointer == "/endpoints/schemas/0/methods/1"
    assert "FETCH" in caught.value.cause


@pytest.mark.parametrize(
    "spec, pointer",
    [
        ({"path": "shelves"}, "/endpoints/schemas/0/reference"),
        ({"reference": SHELF_ID}, "/endpoints/schemas/0/path"),
        ({"reference": SHELF_ID, "path": "a b"}, "/endpoints/schemas/0/path"),
        (
            {"reference": SHELF_ID, "path": "shelves", "methods": "GET"},
            "/endpoints/schemas/0/methods",
        ),
    ],
)
def test_malformed_endpoint_entries(tmp_path: Path, spec: dict[str, Any], pointer: str) -> None:
    with pytest.raises(SchemaError) as caught:
        read_manifest(manifest_file(tmp_path / "plugin", [spec]))
    assert caught.value.pointer == pointer


def test_reference_to_an_unloaded_schema_is_a_schema_error(
    tmp_path: Path, library: SchemaSet
) -> None:
    missing = LIB + "missing.schema.json"
    path = manifest_file(tmp_path / "plugin", [{"reference": missing, "path": "missing"}])
    with pytest.raises(SchemaError) as caught:
        endpoints_of(library, path)
    assert caught.value.pointer == "/endpoints/schemas/0/reference"
    assert missing in caught.value.cause
    assert caught.value.source == str(path)


def test_unclaimed_schemas_get_derived_routes_and_claimed_value_objects_none(
    tmp_path: Path, library: SchemaSet
) -> None:
    path = manifest_file(tmp_path / "plugin", [{"reference": SHELF_ID, "path": "shelves"}])
    routes = endpoints_of(library, path)
    assert set(routes) == {"/lib/v1/shelves", "/book", "/author"}
    assert routes["/book"].schema_id == BOOK_ID and routes["/book"].methods == frozenset(
        ALL_METHODS
    )
    assert routes["/author"].schema_id == AUTHOR_ID
    assert LABEL_ID not in {e.schema_id for e in routes.values()}  # claimed by the prefix


def test_without_manifests_every_schema_gets_a_derived_route(library: SchemaSet) -> None:
    routes = {e.route for e in build_endpoints(library, [])}
    assert routes == {"/book", "/author", "/shelf", "/label"}


def test_a_schema_named_by_an_endpoint_outside_the_prefix_is_claimed(
    tmp_path: Path, library: SchemaSet
) -> None:
    path = manifest_file(tmp_path / "plugin", [{"reference": BOOK_ID, "path": "books"}])
    routes = endpoints_of(library, path)
    assert "/books" in routes and "/book" not in routes  # no prefix: BOOK_ID is not under LIB


def test_several_endpoints_may_serve_one_schema(tmp_path: Path, library: SchemaSet) -> None:
    path = manifest_file(
        tmp_path / "plugin",
        [
            {"reference": SHELF_ID, "path": "shelves"},
            {"reference": SHELF_ID, "path": "kasten", "methods": ["GET"]},
        ],
    )
    routes = endpoints_of(library, path)
    assert routes["/lib/v1/shelves"].schema_id == routes["/lib/v1/kasten"].schema_id == SHELF_ID


def test_duplicate_route_is_a_schema_error(tmp_path: Path, library: SchemaSet) -> None:
    path = manifest_file(
        tmp_path / "plugin",
        [
            {"reference": SHELF_ID, "path": "shelves"},
            {"reference": LABEL_ID, "path": "shelves"},
        ],
    )
    with pytest.raises(SchemaError, match="/lib/v1/shelves"):
        endpoints_of(library, path)


def test_manifest_route_clashing_with_a_derived_route_is_a_schema_error(
    tmp_path: Path, library: SchemaSet
) -> None:
    path = write_json(
        tmp_path / "plugin" / "installation.json",
        {
            "endpoints": {"schemas": [{"reference": SHELF_ID, "path": "book"}]},
        },
    )
    with pytest.raises(SchemaError, match="route /book"):
        endpoints_of(library, path)


def test_manifest_that_is_no_object_is_an_error(tmp_path: Path) -> None:
    path = write_json(tmp_path / "installation.json", ["not", "a", "manifest"])
    with pytest.raises(SchemaError, match="JSON object"):
        read_manifest(path)


# -- the reference installation.json ------------------------------------------------------------

PARTIJ = "https://commongateway.nl/klant.partij.schema.json"
BETROKKENE = "https://commongateway.nl/klant.betrokkeneBijKlantcontact.schema.json"


def test_reference_installation_json(reference_plugin: Plugin) -> None:
    gateway = load_gateway(Settings(), plugins=[reference_plugin])
    routes = {e.route: e for e in gateway.endpoints}
    assert len(gateway.schemas.types) == 27
    assert set(routes) == {
        f"/kic/v1/{path}"
        for path in (
            "betrokkenenbijklantcontact",
            "klantcontactmomenten",
            "bijlagen",
            "digitaaladressen",
            "internetaken",
            "klantcontacten",
            "contactmomenten",
            "medewerkers",
            "organisatorischeeenheden",
            "partijen",
            "klanten",
            "taken",
            "berichten",
        )
    }
    assert routes["/kic/v1/partijen"].schema_id == routes["/kic/v1/klanten"].schema_id == PARTIJ
    assert routes["/kic/v1/partijen"].methods == frozenset({"GET", "PATCH", "POST", "DELETE"})
    assert routes["/kic/v1/klanten"].methods == frozenset(ALL_METHODS)
    assert routes["/kic/v1/klantcontactmomenten"].schema_id == BETROKKENE
    assert routes["/kic/v1/klantcontactmomenten"].methods == frozenset(ALL_METHODS)
    assert routes["/kic/v1/klantcontactmomenten"].throws == ("klant.object.extend",)
    assert routes["/kic/v1/betrokkenenbijklantcontact"].methods == frozenset(
        {"GET", "PATCH", "POST"}
    )
    assert [e.route for e in gateway.endpoints_for(PARTIJ)] == [
        "/kic/v1/partijen",
        "/kic/v1/klanten",
    ]
    for value_object in (
        "identificator",
        "contactnaam",
        "bezoekadres",
        "land",
        "externeIdentificatie",
    ):
        assert (
            gateway.endpoints_for(f"https://commongateway.nl/klant.{value_object}.schema.json")
            == []
        )


def test_version_and_contact_of_the_api(tmp_path: Path) -> None:
    """`version` (semantic) and `contact` (name, email, url) describe the plugin's API: the
    API-Version header and the OpenAPI document's info."""
    path = manifest_file(tmp_path / "plugin", [])
    document = json.loads(path.read_text(encoding="utf-8"))
    contact = {"name": "Team", "email": "team@example.org", "url": "https://example.org"}
    write_json(path, {**document, "version": "2.1.0-rc.1", "contact": contact})
    manifest = read_manifest(path)
    assert (manifest.version, manifest.contact) == ("2.1.0-rc.1", contact)
    assert read_manifest(manifest_file(tmp_path / "bare", [])).version == ""


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"version": "1.0"}, "/version"),
        ({"version": 1}, "/version"),
        ({"contact": "x"}, "/contact"),
    ],
)
def test_a_bad_version_or_contact_is_a_schema_error(
    tmp_path: Path, change: dict[str, Any], pointer: str
) -> None:
    path = manifest_file(tmp_path / "plugin", [])
    write_json(path, {**json.loads(path.read_text(encoding="utf-8")), **change})
    with pytest.raises(SchemaError) as caught:
        read_manifest(path)
    assert caught.value.pointer == pointer
