"""The HTTP API through Starlette's TestClient: CRUD, problem details, lists, the index."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    AUTHOR_ID,
    BOOK_ID,
    REFERENCE_SCHEMAS,
    example,
    make_client,
    valid_book,
    write_json,
)
from starlette.testclient import TestClient

from gateway_core.plugins import Plugin
from gateway_core.schemas.registry import load_schemas

BOOKS = "/api/book"
PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["instance"] == response.request.url.path
    assert isinstance(body["title"], str) and isinstance(body["detail"], str) and body["detail"]
    return body


def invalid(response: Any) -> set[tuple[str, str]]:
    body = assert_problem(response, 400)
    params = body["invalidParams"]
    assert all(set(p) == {"name", "code", "reason"} for p in params)
    return {(p["name"], p["code"]) for p in params}


def aware(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    assert moment.tzinfo is not None, value
    return moment


def create(client: TestClient, **changes: Any) -> dict[str, Any]:
    response = client.post(BOOKS, json=valid_book(**changes))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# -- create and read ----------------------------------------------------------------------------


def test_post_creates_with_server_uuid_location_and_self(book_client: TestClient) -> None:
    response = book_client.post(BOOKS, json=valid_book())
    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    object_id = body["id"]
    assert str(uuid.UUID(object_id)) == object_id
    assert response.headers["location"] == f"{BOOKS}/{object_id}"
    meta = body["_self"]
    assert meta["id"] == object_id
    assert meta["self"] == f"{BOOKS}/{object_id}"
    assert meta["schema"] == {"id": BOOK_ID, "ref": BOOK_ID, "name": "Book"}
    assert aware(meta["dateCreated"]) == aware(meta["dateModified"])
    assert body["title"] == "Max Havelaar"
    assert body["available"] is True  # a default
    assert body["publisher"]["country"] == "NL"  # a nested default
    assert body["chapters"][1] == {"title": "Batavia", "pages": 40, "draft": False}


def test_get_returns_what_post_returned(book_client: TestClient) -> None:
    created = create(book_client)
    response = book_client.get(f"{BOOKS}/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created


def test_ids_are_unique(book_client: TestClient) -> None:
    assert create(book_client)["id"] != create(book_client)["id"]


def test_id_in_a_post_body_is_rejected(book_client: TestClient) -> None:
    body = {**valid_book(), "id": str(uuid.uuid4())}
    assert invalid(book_client.post(BOOKS, json=body)) == {("id", "readOnly")}
    assert book_client.get(BOOKS).json()["total"] == 0


def test_validation_errors_come_all_at_once(book_client: TestClient) -> None:
    response = book_client.post(
        BOOKS,
        json=valid_book(
            title="",
            genre="thriller",
            extra=1,
            chapters=[{"title": "ok"}, {"title": "x" * 30}],
        ),
    )
    assert invalid(response) == {
        ("title", "minLength"),
        ("genre", "enum"),
        ("extra", "additionalProperties"),
        ("chapters.1.title", "maxLength"),
    }
    assert response.json()["title"]


def test_read_only_property_cannot_be_posted(book_client: TestClient) -> None:
    assert invalid(book_client.post(BOOKS, json=valid_book(catalogNumber="C1"))) == {
        ("catalogNumber", "readOnly")
    }


def test_output_metadata_in_a_body_is_ignored(book_client: TestClient) -> None:
    created = create(book_client)
    echoed = book_client.put(f"{BOOKS}/{created['id']}", json=created)
    assert echoed.status_code == 200, echoed.text
    assert {k: v for k, v in echoed.json().items() if k != "_self"} == {
        k: v for k, v in created.items() if k != "_self"
    }


# -- replace, update, delete --------------------------------------------------------------------


def test_put_replaces_the_whole_object(book_client: TestClient) -> None:
    created = create(book_client, website="https://example.org/max")
    url = f"{BOOKS}/{created['id']}"
    response = book_client.put(url, json={"title": "Woutertje Pieterse", "isbn": created["isbn"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["title"] == "Woutertje Pieterse"
    for absent in ("website", "genre", "chapters", "publisher", "pages"):
        assert absent not in body
    assert body["available"] is True  # defaults apply again
    assert body["_self"]["dateCreated"] == created["_self"]["dateCreated"]
    assert aware(body["_self"]["dateModified"]) >= aware(created["_self"]["dateModified"])
    assert book_client.get(url).json() == body


def test_put_with_the_id_of_the_url_is_fine_and_another_id_is_not(book_client: TestClient) -> None:
    created = create(book_client)
    url = f"{BOOKS}/{created['id']}"
    assert book_client.put(url, json={**valid_book(), "id": created["id"]}).status_code == 200
    assert invalid(book_client.put(url, json={**valid_book(), "id": str(uuid.uuid4())})) == {
        ("id", "readOnly")
    }


def test_put_cannot_change_an_immutable_property(book_client: TestClient) -> None:
    created = create(book_client)
    url = f"{BOOKS}/{created['id']}"
    assert invalid(book_client.put(url, json=valid_book(isbn="9780000000002"))) == {
        ("isbn", "immutable")
    }
    assert book_client.get(url).json()["isbn"] == created["isbn"]


def test_patch_merges_and_null_removes(book_client: TestClient) -> None:
    created = create(book_client, website="https://example.org/max")
    url = f"{BOOKS}/{created['id']}"
    response = book_client.patch(
        url,
        json={
            "website": None,
            "pages": 321,
            "publisher": {"address": {"city": "Leiden"}},
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "website" not in body
    assert body["pages"] == 321
    assert body["title"] == created["title"]
    assert body["publisher"] == {
        "name": "De Ruyter",
        "country": "NL",
        "address": {"city": "Leiden"},
    }
    assert body["chapters"] == created["chapters"]
    assert book_client.get(url).json() == body


def test_patch_result_is_validated_and_nothing_changes_when_invalid(
    book_client: TestClient,
) -> None:
    created = create(book_client)
    url = f"{BOOKS}/{created['id']}"
    assert invalid(book_client.patch(url, json={"title": None, "pages": 0})) == {
        ("title", "required"),
        ("pages", "minimum"),
    }
    assert invalid(book_client.patch(url, json={"isbn": "9780000000002"})) == {
        ("isbn", "immutable")
    }
    assert book_client.get(url).json() == created


def test_patch_with_the_same_immutable_value_is_fine(book_client: TestClient) -> None:
    created = create(book_client)
    response = book_client.patch(
        f"{BOOKS}/{created['id']}", json={"isbn": created["isbn"], "pages": 2}
    )
    assert response.status_code == 200, response.text


def test_delete_then_404(book_client: TestClient) -> None:
    created = create(book_client)
    url = f"{BOOKS}/{created['id']}"
    response = book_client.delete(url)
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(book_client.get(url), 404)
    assert_problem(book_client.delete(url), 404)
    assert book_client.get(BOOKS).json()["total"] == 0


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_unknown_and_non_uuid_ids_are_404(book_client: TestClient, method: str) -> None:
    create(book_client)
    for object_id in (str(uuid.uuid4()), "not-a-uuid", "1"):
        response = book_client.request(method, f"{BOOKS}/{object_id}", json=valid_book())
        assert_problem(response, 404)


def test_unknown_route_is_a_404_problem(book_client: TestClient) -> None:
    assert_problem(book_client.get("/api/nothing-here"), 404)


# -- request bodies -----------------------------------------------------------------------------


def test_body_over_the_limit_is_413(tmp_path: Path, book_schemas: Path) -> None:
    with make_client(tmp_path, [book_schemas], max_body_bytes=100) as client:
        assert_problem(client.post(BOOKS, json=valid_book(title="x" * 40, tags=["y" * 80])), 413)
        small = client.post(BOOKS, json={"title": "T", "isbn": "9789038896182"})
        assert small.status_code == 201, small.text
        url = f"{BOOKS}/{small.json()['id']}"
        assert_problem(client.put(url, json=valid_book(tags=["z" * 120])), 413)
        assert_problem(client.patch(url, json={"tags": ["z" * 120]}), 413)


def test_body_over_the_limit_without_content_length_is_413(
    tmp_path: Path, book_schemas: Path
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"title": "T", "isbn": "9789038896182", "tags": ["'
        yield b"x" * 200
        yield b'"]}'

    with make_client(tmp_path, [book_schemas], max_body_bytes=100) as client:
        response = client.post(
            BOOKS, content=chunks(), headers={"content-type": "application/json"}
        )
        assert_problem(response, 413)


def test_text_body_is_415(book_client: TestClient) -> None:
    response = book_client.post(BOOKS, content=b"title=x", headers={"content-type": "text/plain"})
    assert_problem(response, 415)
    assert_problem(book_client.post(BOOKS, content=b'{"title": "x"}'), 415)  # no content type


def test_json_suffix_media_types_are_accepted(book_client: TestClient) -> None:
    response = book_client.post(
        BOOKS,
        content=b'{"title": "T", "isbn": "9789038896182"}',
        headers={"content-type": "application/merge-patch+json; charset=utf-8"},
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("content", [b'{"title": ', b"", b"{'title': 'x'}", b"\xff\xfe"])
def test_malformed_json_is_400(book_client: TestClient, content: bytes) -> None:
    response = book_client.post(
        BOOKS, content=content, headers={"content-type": "application/json"}
    )
    assert_problem(response, 400)


@pytest.mark.parametrize("content", [b'[{"title": "T"}]', b'"a string"', b"42", b"null", b"true"])
def test_body_that_is_not_an_object_is_400(book_client: TestClient, content: bytes) -> None:
    headers = {"content-type": "application/json"}
    problem = assert_problem(book_client.post(BOOKS, content=content, headers=headers), 400)
    assert "object" in problem["detail"]
    created = create(book_client)
    url = f"{BOOKS}/{created['id']}"
    assert_problem(book_client.patch(url, content=content, headers=headers), 400)
    assert_problem(book_client.put(url, content=content, headers=headers), 400)
    assert book_client.get(url).json() == created


# -- methods ------------------------------------------------------------------------------------


@pytest.fixture
def read_only_client(tmp_path: Path, book_schemas: Path) -> Iterator[TestClient]:
    manifest = write_json(
        tmp_path / "plugin" / "installation.json",
        {
            "endpoints": {
                "schemas": [
                    {"reference": BOOK_ID, "path": "books", "methods": ["GET", "POST"]},
                    {"reference": AUTHOR_ID, "path": "authors"},
                ]
            },
        },
    )
    plugin = Plugin(name="library", title="Library", schema_dirs=(book_schemas,), manifest=manifest)
    with make_client(tmp_path, plugins=[plugin]) as client:
        yield client


def test_method_not_allowed_is_405_with_allow(read_only_client: TestClient) -> None:
    created = read_only_client.post("/api/books", json=valid_book())
    assert created.status_code == 201, created.text
    url = f"/api/books/{created.json()['id']}"
    assert read_only_client.get(url).status_code == 200
    for method in ("PUT", "PATCH", "DELETE"):
        response = read_only_client.request(method, url, json={})
        assert_problem(response, 405)
        assert response.headers["allow"] == "GET"
    response = read_only_client.put("/api/books", json={})
    assert_problem(response, 405)
    assert response.headers["allow"] == "GET, POST"
    assert read_only_client.get(url).json()["title"] == "Max Havelaar"


def test_head_is_served_like_get(read_only_client: TestClient) -> None:
    response = read_only_client.head("/api/books")
    assert response.status_code == 200
    assert response.content == b""


def test_the_index_lists_manifest_routes(read_only_client: TestClient) -> None:
    index = read_only_client.get("/api").json()
    endpoints = {t["$id"]: t["endpoints"] for t in index["objecttypes"]}
    assert endpoints == {BOOK_ID: ["/api/books"], AUTHOR_ID: ["/api/authors"]}
    assert index["plugins"] == [{"name": "library", "title": "Library"}]


# -- health and index ---------------------------------------------------------------------------


def test_health(book_client: TestClient) -> None:
    response = book_client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "searchIndexes": "ready"}


def test_api_index_lists_objecttypes(book_client: TestClient) -> None:
    response = book_client.get("/api")
    assert response.status_code == 200
    types = {t["$id"]: t for t in response.json()["objecttypes"]}
    assert types[BOOK_ID] == {
        "$id": BOOK_ID,
        "title": "Book",
        "version": "1.0.0",
        "endpoints": [BOOKS],
    }
    assert types[AUTHOR_ID]["endpoints"] == ["/api/author"]


# -- lists --------------------------------------------------------------------------------------


def test_empty_list_envelope(book_client: TestClient) -> None:
    response = book_client.get(BOOKS)
    assert response.status_code == 200
    assert response.json() == {
        "results": [],
        "count": 0,
        "limit": 30,
        "total": 0,
        "offset": 0,
        "page": 1,
        "pages": 1,
    }


def test_paging_with_limit_and_page(book_client: TestClient) -> None:
    ids = [create(book_client, title=f"Book {n}")["id"] for n in range(5)]
    envelope = book_client.get(BOOKS, params={"_limit": 2, "_page": 2}).json()
    assert {k: v for k, v in envelope.items() if k != "results"} == {
        "count": 2,
        "limit": 2,
        "total": 5,
        "offset": 2,
        "page": 2,
        "pages": 3,
    }
    assert all(type(v) is int for k, v in envelope.items() if k != "results")
    assert [r["id"] for r in envelope["results"]] == ids[2:4]
    last = book_client.get(BOOKS, params={"_limit": 2, "_page": 3}).json()
    assert [r["id"] for r in last["results"]] == ids[4:]
    assert last["count"] == 1
    beyond = book_client.get(BOOKS, params={"_limit": 2, "_page": 9}).json()
    assert beyond["results"] == [] and beyond["total"] == 5
    everything = book_client.get(BOOKS).json()
    assert [r["id"] for r in everything["results"]] == ids
    assert everything["results"][0]["_self"]["self"] == f"{BOOKS}/{ids[0]}"


def test_filter_on_a_dotted_path_through_an_array_of_objects(book_client: TestClient) -> None:
    first = create(book_client, chapters=[{"title": "Intro"}, {"title": "Batavia"}])
    create(book_client, chapters=[{"title": "Lebak"}])
    second = create(book_client, chapters=[{"title": "Batavia"}])
    create(book_client, chapters=[])
    found = book_client.get(BOOKS, params={"chapters.title": "Batavia"}).json()
    assert [r["id"] for r in found["results"]] == [first["id"], second["id"]]
    assert found["total"] == 2
    nested = book_client.get(BOOKS, params={"publisher.address.city": "Amsterdam"}).json()
    assert nested["total"] == 4


def test_unknown_filter_path_is_400_naming_the_parameter(book_client: TestClient) -> None:
    response = book_client.get(BOOKS, params={"chapters.subtitle": "x"})
    body = assert_problem(response, 400)
    assert "chapters.subtitle" in body["detail"]
    assert [p["name"] for p in body["invalidParams"]] == ["chapters.subtitle"]


@pytest.mark.parametrize(
    "params", [{"_limit": "0"}, {"_limit": "-1"}, {"_limit": "many"}, {"_page": "0"}]
)
def test_bad_paging_parameters_are_400(book_client: TestClient, params: dict[str, str]) -> None:
    body = assert_problem(book_client.get(BOOKS, params=params), 400)
    assert body["invalidParams"][0]["name"] == next(iter(params))


# -- the reference bundle over HTTP -------------------------------------------------------------

PARTIJ_ID = "https://commongateway.nl/klant.partij.schema.json"


def partij(number: int, object_id: str) -> dict[str, Any]:
    return {
        "nummer": number,
        "interneNotitie": "vaste klant",
        "externeIdentificaties": [
            {
                "partijIdentificator": {
                    "objecttype": "natuurlijk_persoon",
                    "soortObjectId": "bsn",
                    "objectId": object_id,
                    "register": "https://brp.example.org",
                },
            }
        ],
    }


@pytest.fixture
def kic_client(tmp_path: Path, reference_plugin: Plugin) -> Iterator[TestClient]:
    with make_client(tmp_path, plugins=[reference_plugin]) as client:
        yield client


def test_reference_partij_crud_through_both_endpoints(kic_client: TestClient) -> None:
    response = kic_client.post("/api/kic/v1/partijen", json=partij(1, "999993653"))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["indicatieActief"] is True and created["indicatieGeheimhouding"] is False
    assert created["_self"]["schema"]["ref"] == PARTIJ_ID
    assert created["_self"]["self"] == f"/api/kic/v1/partijen/{created['id']}"
    assert_problem(
        kic_client.put(f"/api/kic/v1/partijen/{created['id']}", json=partij(1, "1")), 405
    )
    # The bundle's installation.json maps `klanten` with its Twig mappings; the out mapping uses
    # Twig arrow functions, which Jinja2 does not run: a clear 500 naming the mapping and target.
    via_klanten = kic_client.get(f"/api/kic/v1/klanten/{created['id']}")
    problem = assert_problem(via_klanten, 500)
    assert "klant.partijToKlantItem.mapping.json" in problem["detail"]
    assert "embedded.emails" in problem["detail"]


def test_reference_partij_validation(kic_client: TestClient) -> None:
    body = partij(1, "999993653")
    body["nummer"] = "een"
    body["externeIdentificaties"][0]["partijIdentificator"]["soortObjectId"] = "paspoort"
    body["externeIdentificaties"][0]["partijIdentificator"]["register"] = "geen url"
    del body["interneNotitie"]
    assert invalid(kic_client.post("/api/kic/v1/partijen", json=body)) == {
        ("nummer", "type"),
        ("interneNotitie", "required"),
        ("externeIdentificaties.0.partijIdentificator.soortObjectId", "enum"),
        ("externeIdentificaties.0.partijIdentificator.register", "format"),
    }


def test_reference_filter_through_the_identification_list(kic_client: TestClient) -> None:
    ids = [
        kic_client.post("/api/kic/v1/partijen", json=partij(n, bsn)).json()["id"]
        for n, bsn in enumerate(["999993653", "111222333", "999993653"])
    ]
    found = kic_client.get(
        "/api/kic/v1/partijen",
        params={"externeIdentificaties.partijIdentificator.objectId": "999993653"},
    ).json()
    assert [r["id"] for r in found["results"]] == [ids[0], ids[2]]


def test_reference_value_objects_have_no_endpoint(kic_client: TestClient) -> None:
    types = {t["$id"]: t["endpoints"] for t in kic_client.get("/api").json()["objecttypes"]}
    assert len(types) == 27
    assert types["https://commongateway.nl/klant.identificator.schema.json"] == []
    assert types[PARTIJ_ID] == ["/api/kic/v1/partijen", "/api/kic/v1/klanten"]


def test_every_reference_endpoint_serves_a_generated_object(kic_client: TestClient) -> None:
    schemas = load_schemas([REFERENCE_SCHEMAS])
    served = 0
    facades = {
        "/api/kic/v1/klanten",
        "/api/kic/v1/contactmomenten",
        "/api/kic/v1/klantcontactmomenten",
    }
    for objecttype in kic_client.get("/api").json()["objecttypes"]:
        schema = schemas.get(objecttype["$id"])
        for route in objecttype["endpoints"]:
            if (
                route in facades
            ):  # mapped by the bundle's Twig (test above); served unmapped elsewhere
                continue
            created = kic_client.post(route, json=example(schemas, schema.schema, schema.id))
            assert created.status_code == 201, (route, created.text)
            url = f"{route}/{created.json()['id']}"
            assert created.headers["location"] == url
            assert kic_client.get(url).status_code == 200
            assert kic_client.patch(url, json={}).status_code == 200
            assert kic_client.get(route).json()["total"] >= 1
            served += 1
    assert served == 10


def test_link_urls_keep_raw_query_bytes_and_escape_angle_brackets() -> None:
    """A query sent with raw (not percent-encoded) bytes comes back in the Link URLs as the same
    bytes, percent-encoded once; a `>` cannot end the `<URL>` early."""
    from starlette.requests import Request

    from gateway_core.http import paging_links

    scope = {
        "type": "http",
        "path": "/api/book",
        "query_string": "title=caf\u00e9>x&_page=2".encode(),
        "headers": [],
    }
    header = paging_links(Request(scope), {"page": 2, "pages": 3})
    assert header.startswith('</api/book?title=caf%C3%A9%3Ex&_page=1>; rel="first"')
    assert '</api/book?title=caf%C3%A9%3Ex&_page=3>; rel="next"' in header
