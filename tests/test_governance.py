"""Audit trail, versions and ETags, and CSV exports (docs/governance.md), on both backends."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path
from typing import Any

from conftest import BOOK_ID, BOOK_SCHEMA, make_client, valid_book, write_json
from starlette.testclient import TestClient

from gateway_core.context import system_context
from gateway_core.sections import read_auth

BOOKS = "/api/book"


def trail(client: TestClient, book_id: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"{BOOKS}/{book_id}/audittrail", params=params)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


# -- audit trail ------------------------------------------------------------------------------------


def test_create_two_patches_and_a_delete_leave_a_trail(book_client: TestClient) -> None:
    book = book_client.post(BOOKS, json=valid_book(tags=["a"])).json()
    book_client.patch(f"{BOOKS}/{book['id']}", json={"pages": 12, "publisher": {"name": "Querido"}})
    book_client.patch(f"{BOOKS}/{book['id']}", json={"tags": ["a", "b"], "genre": None})
    assert book_client.delete(f"{BOOKS}/{book['id']}").status_code == 204
    entries = trail(book_client, book["id"])  # the object is gone; its trail is not
    assert entries["total"] == 4
    assert [e["action"] for e in entries["results"]] == [
        "delete",
        "partial_update",
        "partial_update",
        "create",
    ]
    assert [e["version"] for e in entries["results"]] == [4, 3, 2, 1]
    delete, second, first, create = entries["results"]
    assert {c["path"]: (c["old"], c["new"]) for c in first["changes"]} == {
        "pages": (320, 12),
        "publisher.name": ("De Ruyter", "Querido"),
    }
    assert {c["path"]: (c["old"], c["new"]) for c in second["changes"]} == {
        "genre": ("novel", None),
        "tags": (["a"], ["a", "b"]),
    }
    assert {c["path"] for c in create["changes"]} >= {"title", "isbn", "publisher.address.city"}
    assert all(c["old"] is None for c in create["changes"])
    assert all(c["new"] is None for c in delete["changes"])
    for entry in entries["results"]:
        assert entry["client"] is None  # anonymous (no auth configured)
        assert entry["when"].endswith("+00:00")
        assert entry["request"]


def test_the_trail_is_paged_like_a_list(book_client: TestClient) -> None:
    book = book_client.post(BOOKS, json=valid_book()).json()
    for pages in range(2, 7):
        book_client.patch(f"{BOOKS}/{book['id']}", json={"pages": pages})
    first = book_client.get(f"{BOOKS}/{book['id']}/audittrail", params={"_limit": 2})
    assert first.headers["x-total-count"] == "6"
    assert [e["version"] for e in first.json()["results"]] == [6, 5]
    assert first.json()["pages"] == 3
    assert 'rel="next"' in first.headers["link"]
    third = trail(book_client, book["id"], _limit=2, _page=3)
    assert [e["version"] for e in third["results"]] == [2, 1]
    bad = book_client.get(f"{BOOKS}/{book['id']}/audittrail", params={"title": "x"})
    assert bad.status_code == 400


def test_unknown_objects_have_no_trail(book_client: TestClient) -> None:
    missing = book_client.get(f"{BOOKS}/00000000-0000-4000-8000-000000000000/audittrail")
    assert missing.status_code == 404
    assert book_client.get(f"{BOOKS}/not-a-uuid/audittrail").status_code == 404
    assert (
        book_client.post(f"{BOOKS}/00000000-0000-4000-8000-000000000000/audittrail").status_code
        == 405
    )


def test_the_trail_records_the_client_and_needs_the_read_scope(
    tmp_path: Path, book_schemas: Path, database: str
) -> None:
    book_id = "https://example.org/schemas/book.schema.json"
    auth = read_auth(
        {
            "clients": [
                {
                    "id": "writer",
                    "api_key": "w" * 24,
                    "scopes": [f"schemas.{book_id}.POST", f"schemas.{book_id}.PATCH"],
                },
                {"id": "reader", "api_key": "r" * 24, "scopes": [f"schemas.{book_id}.GET"]},
            ]
        },
        "test",
    )
    writer = {"Authorization": "Token " + "w" * 24}
    reader = {"Authorization": "Token " + "r" * 24}
    with make_client(tmp_path, [book_schemas], database=database, auth=auth) as client:
        book = client.post(BOOKS, json=valid_book(), headers=writer).json()
        client.patch(f"{BOOKS}/{book['id']}", json={"pages": 2}, headers=writer)
        assert client.get(f"{BOOKS}/{book['id']}/audittrail", headers=writer).status_code == 403
        assert client.get(f"{BOOKS}/{book['id']}/audittrail").status_code == 401
        entries = client.get(f"{BOOKS}/{book['id']}/audittrail", headers=reader).json()["results"]
        assert [e["client"] for e in entries] == ["writer", "writer"]


def test_an_objecttype_may_switch_its_trail_off(tmp_path: Path, database: str) -> None:
    folder = tmp_path / "schemas"
    write_json(folder / "book.schema.json", {**BOOK_SCHEMA, "createAuditTrails": False})
    with make_client(tmp_path, [folder], database=database) as client:
        book = client.post(BOOKS, json=valid_book()).json()
        missing = client.get(f"{BOOKS}/{book['id']}/audittrail")
        assert missing.status_code == 404
        assert "createAuditTrails" in missing.json()["detail"]
        assert client.get(f"{BOOKS}/{book['id']}", params={"_version": 1}).status_code == 404


# -- versions, ETags, conditional requests -----------------------------------------------------------


def test_versions_and_etags(book_client: TestClient) -> None:
    created = book_client.post(BOOKS, json=valid_book())
    book = created.json()
    assert book["_self"]["version"] == 1
    assert created.headers["etag"].startswith('"1-')
    read = book_client.get(f"{BOOKS}/{book['id']}")
    tag = read.headers["etag"]
    assert tag == book_client.get(f"{BOOKS}/{book['id']}").headers["etag"]  # same bytes, same tag
    not_modified = book_client.get(f"{BOOKS}/{book['id']}", headers={"If-None-Match": tag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == tag
    weak = book_client.get(f"{BOOKS}/{book['id']}", headers={"If-None-Match": f"W/{tag}"})
    assert weak.status_code == 304
    projected = book_client.get(f"{BOOKS}/{book['id']}", params={"_fields": "title"})
    assert projected.headers["etag"] != tag and projected.headers["etag"].startswith('"1-')

    patched = book_client.patch(
        f"{BOOKS}/{book['id']}", json={"pages": 10}, headers={"If-Match": tag}
    )
    assert patched.status_code == 200
    assert patched.json()["_self"]["version"] == 2
    assert (
        book_client.get(f"{BOOKS}/{book['id']}", headers={"If-None-Match": tag}).status_code == 200
    )

    stale = book_client.patch(
        f"{BOOKS}/{book['id']}", json={"pages": 99}, headers={"If-Match": tag}
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    assert "version 2" in stale.json()["detail"]
    assert book_client.get(f"{BOOKS}/{book['id']}").json()["pages"] == 10  # nothing changed
    assert (
        book_client.put(
            f"{BOOKS}/{book['id']}", json=valid_book(), headers={"If-Match": tag}
        ).status_code
        == 412
    )
    assert book_client.delete(f"{BOOKS}/{book['id']}", headers={"If-Match": tag}).status_code == 412
    assert book_client.get(f"{BOOKS}/{book['id']}/audittrail").json()["total"] == 2

    current = patched.headers["etag"]
    assert (
        book_client.put(
            f"{BOOKS}/{book['id']}", json=valid_book(pages=11), headers={"If-Match": current}
        ).status_code
        == 200
    )
    assert book_client.delete(f"{BOOKS}/{book['id']}", headers={"If-Match": "*"}).status_code == 204
    assert (
        book_client.patch(f"{BOOKS}/{book['id']}", json={}, headers={"If-Match": "*"}).status_code
        == 404
    )
    garbage = book_client.patch(f"{BOOKS}/{book['id']}", json={}, headers={"If-Match": "nonsense"})
    assert garbage.status_code == 400


def test_an_invalid_body_is_a_400_before_if_match_is_weighed(book_client: TestClient) -> None:
    """What is wrong with the request itself comes first; a bare version is no ETag."""
    book = book_client.post(BOOKS, json=valid_book()).json()
    stale = '"999-0"'
    invalid = book_client.patch(
        f"{BOOKS}/{book['id']}", json={"pages": "many"}, headers={"If-Match": stale}
    )
    assert invalid.status_code == 400
    assert invalid.json()["invalidParams"][0]["name"] == "pages"
    assert (
        book_client.patch(
            f"{BOOKS}/{book['id']}", json={"pages": 5}, headers={"If-Match": stale}
        ).status_code
        == 412
    )
    bare = book_client.patch(f"{BOOKS}/{book['id']}", json={"pages": 5}, headers={"If-Match": "1"})
    assert bare.status_code == 400


def test_an_earlier_version_is_shown_with_version(book_client: TestClient) -> None:
    book = book_client.post(BOOKS, json=valid_book(pages=100)).json()
    book_client.patch(f"{BOOKS}/{book['id']}", json={"pages": 200})
    book_client.patch(f"{BOOKS}/{book['id']}", json={"pages": 300})
    first = book_client.get(f"{BOOKS}/{book['id']}", params={"_version": 1})
    assert first.status_code == 200
    assert first.json()["pages"] == 100
    assert first.json()["_self"]["version"] == 1
    assert first.headers["etag"].startswith('"1-')
    assert book_client.get(f"{BOOKS}/{book['id']}", params={"_version": 2}).json()["pages"] == 200
    assert book_client.get(f"{BOOKS}/{book['id']}").json()["pages"] == 300
    assert book_client.get(f"{BOOKS}/{book['id']}", params={"_version": 9}).status_code == 404
    bad = book_client.get(f"{BOOKS}/{book['id']}", params={"_version": "one"})
    assert bad.status_code == 400
    assert bad.json()["invalidParams"][0]["name"] == "_version"


# -- CSV ------------------------------------------------------------------------------------------------


def read_csv(response: Any, separator: str = ";") -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:]), delimiter=separator))


def test_a_filtered_list_as_csv(book_client: TestClient) -> None:
    book_client.post(BOOKS, json=valid_book(title="Zeta", tags=["x", "y"]))
    book_client.post(BOOKS, json=valid_book(title="Alfa", isbn="9780000000002", genre="poetry"))
    book_client.post(BOOKS, json=valid_book(title="=HYPERLINK(1)", isbn="9780000000003"))
    response = book_client.get(
        BOOKS, params={"genre": "novel", "_order[title]": "desc"}, headers={"Accept": "text/csv"}
    )
    rows = read_csv(response)
    assert [row["title"] for row in rows] == [
        "Zeta",
        "'=HYPERLINK(1)",
    ]  # filtered, ordered, defused
    zeta = rows[0]
    assert zeta["publisher.name"] == "De Ruyter"
    assert zeta["publisher.address.city"] == "Amsterdam"
    assert zeta["chapters.title"] == "Intro | Batavia"
    assert zeta["chapters.pages"] == "3 | 40"
    assert zeta["tags"] == "x | y"
    assert zeta["available"] == "true"
    assert zeta["_self.version"] == "1"
    assert zeta["_self.owner"] == ""
    assert list(rows[0])[:5] == [
        "id",
        "_self.dateCreated",
        "_self.dateModified",
        "_self.owner",
        "_self.version",
    ]
    assert "attachment" in response.headers["content-disposition"]


def test_csv_columns_and_delimiter_can_be_chosen(book_client: TestClient) -> None:
    book_client.post(BOOKS, json=valid_book(title="Één, twee"))
    response = book_client.get(
        BOOKS, params={"_format": "csv", "_fields": "title,publisher", "_delimiter": ","}
    )
    rows = read_csv(response, ",")
    assert list(rows[0]) == [
        "title",
        "publisher.name",
        "publisher.country",
        "publisher.address.city",
        "publisher.address.postcode",
    ]
    assert rows[0]["title"] == "Één, twee"
    assert book_client.get(BOOKS, params={"_format": "xml"}).status_code == 400
    assert book_client.get(BOOKS, params={"_format": "csv", "_delimiter": "|"}).status_code == 400
    assert book_client.get(BOOKS, params={"_format": "csv", "nope": "1"}).status_code == 400
    json_wins = book_client.get(BOOKS, headers={"Accept": "application/json, text/csv;q=0.5"})
    assert json_wins.headers["content-type"].startswith("application/json")


def test_csv_exports_everything_unless_a_page_is_asked(book_client: TestClient) -> None:
    for number in range(45):
        book_client.post(BOOKS, json=valid_book(isbn=f"{9780000000100 + number}", pages=number + 1))
    everything = read_csv(book_client.get(BOOKS, params={"_format": "csv"}))
    assert len(everything) == 45  # more than the default page of 30
    page = read_csv(book_client.get(BOOKS, params={"_format": "csv", "_limit": 10, "_page": 2}))
    assert [row["pages"] for row in page] == [str(n) for n in range(11, 21)]


def test_a_large_export_streams(book_client: TestClient) -> None:
    count = 1200  # six chunks of 200 rows
    service = book_client.app.state.service  # type: ignore[attr-defined]
    books = [
        (BOOK_ID, str(uuid.UUID(int=n + 1)), valid_book(isbn=f"{9781000000000 + n}"), f"book{n}")
        for n in range(count)
    ]
    assert book_client.portal is not None
    book_client.portal.call(service.put_many, books, system_context("test"))
    with book_client.stream("GET", BOOKS, params={"_format": "csv", "_fields": "isbn"}) as response:
        chunks = list(response.iter_bytes())
    assert len(chunks) > 2  # written as the rows came, not as one body
    lines = b"".join(chunks).decode("utf-8-sig").splitlines()
    assert lines[0] == "isbn"
    assert len(lines) == count + 1
    assert lines[1] == "9781000000000" and lines[-1] == f"{9781000000000 + count - 1}"
