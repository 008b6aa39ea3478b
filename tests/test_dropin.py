"""The issue's acceptance: a schema file dropped into a schema folder is served after a restart."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import AUTHOR_SCHEMA, BOOK_ID, BOOK_SCHEMA, make_client, valid_book, write_json

from gateway_core.plugins import Plugin


def test_a_dropped_schema_gets_validated_endpoints_after_a_restart(
    tmp_path: Path, database: str
) -> None:
    folder = tmp_path / "schemas"
    write_json(folder / "author.schema.json", AUTHOR_SCHEMA)

    with make_client(tmp_path, [folder], database=database) as client:
        assert client.get("/api/book").status_code == 404
        author = client.post("/api/author", json={"name": "Multatuli"})
        assert author.status_code == 201, author.text

    write_json(folder / "book.schema.json", BOOK_SCHEMA)  # dropped in while the gateway is down

    with make_client(tmp_path, [folder], database=database) as client:
        index = {t["$id"]: t for t in client.get("/api").json()["objecttypes"]}
        assert index[BOOK_ID]["endpoints"] == ["/api/book"]
        assert client.get(f"/api/author/{author.json()['id']}").json()["name"] == "Multatuli"

        first = client.post(
            "/api/book", json=valid_book(chapters=[{"title": "Intro"}, {"title": "Batavia"}])
        )
        assert first.status_code == 201, first.text
        client.post("/api/book", json=valid_book(title="Other", chapters=[{"title": "Lebak"}]))
        rejected = client.post(
            "/api/book", json=valid_book(genre="thriller", chapters=[{"pages": 1}])
        )
        assert rejected.status_code == 400
        assert {(p["name"], p["code"]) for p in rejected.json()["invalidParams"]} == {
            ("genre", "enum"),
            ("chapters.0.title", "required"),
        }

        found = client.get("/api/book", params={"chapters.title": "batavia"}).json()
        assert [r["id"] for r in found["results"]] == [first.json()["id"]]
        assert found["total"] == 1

    # and once more: the data is still there
    with make_client(tmp_path, [folder], database=database) as client:
        found = client.get("/api/book", params={"chapters.title": "Batavia"}).json()
        assert [r["id"] for r in found["results"]] == [first.json()["id"]]
        assert client.get("/api/book").json()["total"] == 2


def test_removing_a_dropped_schema_removes_its_endpoints(
    tmp_path: Path, book_schemas: Path, database: str
) -> None:
    with make_client(tmp_path, [book_schemas], database=database) as client:
        assert client.post("/api/book", json=valid_book()).status_code == 201
    (book_schemas / "book.schema.json").unlink()
    with make_client(tmp_path, [book_schemas], database=database) as client:
        assert client.get("/api/book").status_code == 404
        assert client.get("/api/author").status_code == 200


def test_a_dropped_schema_beside_a_plugin_gets_a_derived_route(
    tmp_path: Path, book_schemas: Path, reference_plugin: Plugin, database: str
) -> None:
    plugins = [reference_plugin]
    with make_client(tmp_path, [book_schemas], plugins=plugins, database=database) as client:
        routes = {t["$id"]: t["endpoints"] for t in client.get("/api").json()["objecttypes"]}
        assert routes[BOOK_ID] == ["/api/book"]
        assert "/api/kic/v1/partijen" in routes["https://commongateway.nl/klant.partij.schema.json"]
        assert client.post("/api/book", json=valid_book()).status_code == 201


def test_a_dropped_cg_entity_file_is_served_too(
    tmp_path: Path, reference_schemas: Path, database: str
) -> None:
    folder = tmp_path / "dropped"
    folder.mkdir()
    shutil.copy(reference_schemas / "klant.land.schema.json", folder)
    with make_client(tmp_path, [folder], database=database) as client:
        ok = client.post(
            "/api/klant-land",
            json={
                "landcode": "NL",
                "landnaam": "Nederland",
                "ingangsdatumLand": "1815-03-16",
                "einddatumLand": "9999-12-31",
            },
        )
        assert ok.status_code == 201, ok.text
        bad = client.post(
            "/api/klant-land", json={"landcode": "", "ingangsdatumLand": "16-03-1815"}
        )
        assert {(p["name"], p["code"]) for p in bad.json()["invalidParams"]} == {
            ("landcode", "minLength"),
            ("ingangsdatumLand", "format"),
            ("landnaam", "required"),
            ("einddatumLand", "required"),
        }
