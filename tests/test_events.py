"""Events and actions (docs/events.md): life-cycle events under Common Gateway's names, thrown
endpoint events, action files with JsonLogic conditions, refusing pre actions, asynchronous
actions, gateway.yaml overrides. A small test plugin (book schemas, an installation.json that
throws `test.thrown`, Action files) registers the handlers below."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from conftest import BOOK_ID, BOOK_SCHEMA, valid_book, write_json
from starlette.testclient import TestClient

from gateway_core.actions import ActionServices
from gateway_core.app import create_app, load_gateway
from gateway_core.config import Settings
from gateway_core.errors import Conflict, SchemaError
from gateway_core.events import LIFE_CYCLE, Event
from gateway_core.plugins import Plugin

SEEN: list[tuple[str, str | None, Any]] = []


class Recorder:
    """Records every event it gets: (name, object id, a copy of the object)."""

    name: ClassVar[str] = "test.recorder"
    aliases: ClassVar[tuple[str, ...]] = ("Vendor\\Bundle\\ActionHandler\\RecorderHandler",)

    def __init__(self, configuration: Mapping[str, Any], services: ActionServices) -> None:
        self.label = configuration.get("label", "")

    def claims(self) -> Mapping[str, frozenset[str]]:
        return {}

    async def run(self, event: Event) -> None:
        snapshot = json.loads(json.dumps(event.object)) if event.object is not None else None
        SEEN.append((f"{self.label}{event.name}", event.object_id, snapshot))


class Stamper(Recorder):
    """Changes what is written (pre) or answered (thrown): adds a tag / a field."""

    name: ClassVar[str] = "test.stamper"
    aliases: ClassVar[tuple[str, ...]] = ()

    async def run(self, event: Event) -> None:
        if event.object is not None:
            event.object["tags"] = [*event.object.get("tags", []), "stamped"]
        if isinstance(event.response, dict):
            event.response["stampedBy"] = event.context.client_id or "anonymous"


class Refuser(Recorder):
    name: ClassVar[str] = "test.refuser"
    aliases: ClassVar[tuple[str, ...]] = ()

    async def run(self, event: Event) -> None:
        raise Conflict("Books of this genre are not accepted here.")


class Late(Recorder):
    """An asynchronous action: its change to the answer must not show, but it runs."""

    name: ClassVar[str] = "test.late"
    aliases: ClassVar[tuple[str, ...]] = ()

    async def run(self, event: Event) -> None:
        if isinstance(event.response, dict):
            event.response["late"] = True
        SEEN.append(
            ("late", None, event.response.get("id") if isinstance(event.response, dict) else None)
        )


class ExtensionsOnly(Recorder):
    """Declares that it acts on `_extend` objects only (as the BRP extend action does)."""

    name: ClassVar[str] = "test.extensions-only"
    aliases: ClassVar[tuple[str, ...]] = ()
    extensions_only: ClassVar[bool] = True


def action(name: str, listens: list[str], handler: str, **extra: Any) -> dict[str, Any]:
    return {
        "$id": f"https://example.org/action/{name}.json",
        "title": name,
        "listens": listens,
        "class": handler,
        **extra,
    }


def make_plugin(root: Path, actions: list[dict[str, Any]]) -> Plugin:
    write_json(root / "schemas" / "book.schema.json", BOOK_SCHEMA)
    manifest = write_json(
        root / "Installation" / "installation.json",
        {
            "name": "test-events",
            "collections": [{"schemaPrefix": "https://example.org/schemas/", "prefix": "lib"}],
            "endpoints": {
                "schemas": [{"reference": BOOK_ID, "path": "books", "throws": ["test.thrown"]}]
            },
        },
    )
    for index, document in enumerate(actions):
        write_json(root / "Installation" / "Action" / f"{index:02d}.action.json", document)
    return Plugin(
        name="test-events",
        title="Events test",
        schema_dirs=(root / "schemas",),
        manifest=manifest,
        action_handlers=(Recorder, Stamper, Refuser, Late, ExtensionsOnly),
    )


def client_for(
    root: Path, action_files: list[dict[str, Any]], database: str, **settings: Any
) -> TestClient:
    plugin = make_plugin(root, action_files)
    config = Settings(database=database, plugins=("test-events",), **settings)
    return TestClient(create_app(config, load_gateway(config, plugins=[plugin])))


@pytest.fixture(autouse=True)
def _clear_seen() -> Iterator[None]:
    SEEN.clear()
    yield
    SEEN.clear()


BOOKS = "/api/lib/books"


def test_life_cycle_events_carry_common_gateways_names(tmp_path: Path, database: str) -> None:
    actions = [action("all", list(LIFE_CYCLE), "test.recorder")]
    with client_for(tmp_path, actions, database) as client:
        created = client.post(BOOKS, json=valid_book()).json()
        client.get(f"{BOOKS}/{created['id']}")
        client.patch(f"{BOOKS}/{created['id']}", json={"pages": 12})
        client.delete(f"{BOOKS}/{created['id']}")
    names = [name for name, _, _ in SEEN]
    assert names == [
        "commongateway.object.pre.create",
        "commongateway.object.post.create",
        "commongateway.object.pre.read",
        "commongateway.object.post.read",
        "commongateway.object.pre.update",
        "commongateway.object.post.update",
        "commongateway.object.pre.delete",
        "commongateway.object.post.delete",
    ]
    post_update = SEEN[5]
    assert post_update[1] == created["id"]
    assert post_update[2]["pages"] == 12


def test_a_condition_that_holds_runs_the_action_and_one_that_does_not_skips_it(
    tmp_path: Path, database: str
) -> None:
    novel_only = {"==": [{"var": "object.genre"}, "novel"]}
    actions = [
        action(
            "stamp-novels",
            ["commongateway.object.pre.create"],
            "test.stamper",
            conditions=novel_only,
        )
    ]
    with client_for(tmp_path, actions, database) as client:
        novel = client.post(BOOKS, json=valid_book(genre="novel")).json()
        poem = client.post(BOOKS, json=valid_book(genre="poetry", isbn="9789000000001")).json()
        assert novel["tags"] == ["stamped"]  # the pre action changed what was written
        assert "tags" not in poem
        assert client.get(f"{BOOKS}/{novel['id']}").json()["tags"] == ["stamped"]


def test_a_pre_create_action_may_refuse(tmp_path: Path, database: str) -> None:
    essays = {"==": [{"var": "object.genre"}, "essay"]}
    actions = [
        action("no-essays", ["commongateway.object.pre.create"], "test.refuser", conditions=essays)
    ]
    with client_for(tmp_path, actions, database) as client:
        refused = client.post(BOOKS, json=valid_book(genre="essay"))
        assert refused.status_code == 409
        assert refused.headers["content-type"] == "application/problem+json"
        assert "not accepted" in refused.json()["detail"]
        assert client.get(BOOKS).json()["total"] == 0  # nothing written
        assert client.post(BOOKS, json=valid_book(genre="novel")).status_code == 201


def test_a_failing_post_action_leaves_the_answer_alone(tmp_path: Path, database: str) -> None:
    actions = [action("fails-late", ["commongateway.object.post.create"], "test.refuser")]
    with client_for(tmp_path, actions, database) as client:
        created = client.post(BOOKS, json=valid_book())
        assert created.status_code == 201  # the write is stored: the answer says so
        assert client.get(BOOKS).json()["total"] == 1


def test_thrown_events_may_change_the_answer(tmp_path: Path, database: str) -> None:
    actions = [action("stamp-answers", ["test.thrown"], "test.stamper", priority=5)]
    with client_for(tmp_path, actions, database) as client:
        created = client.post(BOOKS, json=valid_book())
        assert created.json()["stampedBy"] == "anonymous"
        listed = client.get(BOOKS).json()
        assert listed["stampedBy"] == "anonymous"  # the list envelope is the thrown answer
        assert listed["results"][0]["id"] == created.json()["id"]
        for _ in range(2):  # every read, not only the first (no cached answer passes it by)
            item = client.get(f"{BOOKS}/{created.json()['id']}")
            assert item.json()["stampedBy"] == "anonymous"


def test_an_extensions_only_action_runs_only_on_requests_with_extend(
    tmp_path: Path, database: str
) -> None:
    actions = [
        action("extends", ["test.thrown"], "test.extensions-only", configuration={"label": "x "}),
        action("records", ["test.thrown"], "test.recorder", configuration={"label": "r "}),
    ]
    with client_for(tmp_path, actions, database) as client:
        created = client.post(BOOKS, json=valid_book()).json()
        client.get(f"{BOOKS}/{created['id']}")
        client.get(BOOKS)
    names = [name for name, _, _ in SEEN]
    assert names == ["r test.thrown"] * 3  # POST, GET item, GET list; never "x test.thrown"


def test_asynchronous_actions_run_after_the_answer(tmp_path: Path, database: str) -> None:
    actions = [action("late", ["test.thrown"], "test.late", **{"async": True})]
    with client_for(tmp_path, actions, database) as client:
        created = client.post(BOOKS, json=valid_book())
        assert "late" not in created.json()  # changes of an asynchronous action do not show
        assert ("late", None, created.json()["id"]) in SEEN  # but it ran (a background task)


def test_priority_orders_the_actions(tmp_path: Path, database: str) -> None:
    actions = [
        action(
            "low",
            ["commongateway.object.post.create"],
            "test.recorder",
            priority=1,
            configuration={"label": "low:"},
        ),
        action(
            "high",
            ["commongateway.object.post.create"],
            "test.recorder",
            priority=9,
            configuration={"label": "high:"},
        ),
    ]
    with client_for(tmp_path, actions, database) as client:
        client.post(BOOKS, json=valid_book())
    assert [name.split(":")[0] for name, _, _ in SEEN] == ["high", "low"]


def test_a_cg_class_name_maps_to_a_registered_handler(tmp_path: Path, database: str) -> None:
    handler = "Vendor\\Bundle\\ActionHandler\\RecorderHandler"
    actions = [action("cg", ["commongateway.object.post.create"], handler)]
    with client_for(tmp_path, actions, database) as client:
        client.post(BOOKS, json=valid_book())
    assert [name for name, _, _ in SEEN] == ["commongateway.object.post.create"]


def test_gateway_yaml_overrides_an_action(tmp_path: Path, database: str) -> None:
    actions = [action("refuse-all", ["commongateway.object.pre.create"], "test.refuser")]
    overrides = {"https://example.org/action/refuse-all.json": {"isEnabled": False}}
    with client_for(tmp_path, actions, database, actions=overrides) as client:
        assert client.post(BOOKS, json=valid_book()).status_code == 201


def test_an_unknown_handler_leaves_the_action_off_with_a_warning(
    tmp_path: Path, database: str, caplog: pytest.LogCaptureFixture
) -> None:
    actions = [action("php", ["commongateway.object.pre.create"], "Vendor\\Php\\Missing")]
    with (
        caplog.at_level(logging.WARNING, logger="gateway.actions"),
        client_for(tmp_path, actions, database) as client,
    ):
        assert client.post(BOOKS, json=valid_book()).status_code == 201
    assert "no loaded plugin registers the handler 'Vendor\\\\Php\\\\Missing'" in caplog.text
    assert "00.action.json" in caplog.text


@pytest.mark.parametrize(
    ("broken", "pointer"),
    [
        ({"listens": "x", "class": "test.recorder"}, "/listens"),
        ({"listens": ["x"], "class": "test.recorder", "conditions": {"nope": [1]}}, "/conditions"),
        ({"listens": ["x"]}, "/class"),
        ({"listens": ["x"], "class": "test.recorder", "priority": "high"}, "/priority"),
    ],
)
def test_a_broken_action_file_stops_start_up_naming_it(
    tmp_path: Path, broken: dict[str, Any], pointer: str
) -> None:
    plugin = make_plugin(tmp_path, [broken])
    with pytest.raises(SchemaError) as error:
        load_gateway(Settings(plugins=("test-events",)), plugins=[plugin])
    assert "00.action.json" in str(error.value)
    assert pointer in str(error.value)


def test_an_override_for_an_unknown_action_stops_start_up(tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path, [])
    settings = Settings(plugins=("test-events",), actions={"https://nope": {"isEnabled": False}})
    with pytest.raises(Exception, match="no loaded action has the \\$id https://nope"):
        load_gateway(settings, plugins=[plugin])


def test_the_reference_bundles_action_loads_unchanged(reference_plugin: Plugin) -> None:
    gateway = load_gateway(Settings(plugins=("reference-bundle",)), plugins=[reference_plugin])
    assert [spec.listens for spec in gateway.actions] == [("klant.object.extend",)]
    assert gateway.actions[0].handler.endswith("\\ExtendHandler")
