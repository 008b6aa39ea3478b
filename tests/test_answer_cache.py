"""The cache of encoded answers (answer_cache.py): what a caller reads is what is stored now, as
that caller may see it, whether the answer was cached or not; on both backends."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway_core.answer_cache import AnswerCache, encode
from gateway_core.app import create_app, load_gateway
from gateway_core.cli import main
from gateway_core.config import Settings
from gateway_core.events import POST_READ, Event, FunctionListener
from gateway_core.sections import read_auth

ID = "https://commongateway.nl/klant.{}.schema.json"
PARTIJ, ADRES = ID.format("partij"), ID.format("digitaalAdres")
PARTIJEN, ADRESSEN = "/api/kic/v1/partijen", "/api/kic/v1/digitaaladressen"
JAN = "d89b93c9-e44c-5dad-b15a-1d9c929aba0c"  # demo Partij with two verstrekteAdressen
JANS_EMAIL = "eb4925e4-48e3-5fa0-bd0c-99cb71335e56"
ALL_KEY = "all-0a1b2c3d4e5f60718293a4b5c6d7e8f90"
PARTIJ_KEY = "partij-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
AUTH = {
    "clients": [
        {"id": "all", "api_key": ALL_KEY, "scopes": ["schemas.*.*"]},
        {"id": "partij-only", "api_key": PARTIJ_KEY, "scopes": [f"schemas.{PARTIJ}.GET"]},
    ]
}
ALL = {"Authorization": f"Token {ALL_KEY}"}
PARTIJ_ONLY = {"Authorization": f"Token {PARTIJ_KEY}"}


def serve(database: str, **settings: Any) -> TestClient:
    config = Settings(
        database=database,
        plugins=("customer-interaction",),
        auth=read_auth(AUTH, "test"),
        **settings,
    )
    return TestClient(create_app(config, load_gateway(config)))


@pytest.fixture
def demo_database(database: str) -> str:
    command = ["install", "customer-interaction", "--data", "--database", database]
    assert main([*command, "--plugin", "customer-interaction"]) == 0
    return database


@pytest.fixture
def client(demo_database: str) -> Iterator[TestClient]:
    with serve(demo_database) as test_client:
        yield test_client


def read(client: TestClient, route: str, headers: dict[str, str] = ALL) -> Any:
    response = client.get(route, headers=headers)
    assert response.status_code == 200, response.text
    return response


def embedded_adressen(document: dict[str, Any]) -> dict[str, str]:
    found = document.get("embedded", {}).get("verstrekteAdressen", [])
    return {adres["id"]: adres["omschrijving"] for adres in found}


def test_a_reread_is_equal_and_a_write_shows_at_once(client: TestClient) -> None:
    first, again = read(client, f"{PARTIJEN}/{JAN}"), read(client, f"{PARTIJEN}/{JAN}")
    assert again.content == first.content
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["content-type"] == "application/json"

    patched = client.patch(f"{PARTIJEN}/{JAN}", json={"interneNotitie": "nieuw"}, headers=ALL)
    assert patched.status_code == 200, patched.text
    after = read(client, f"{PARTIJEN}/{JAN}")
    assert after.json()["interneNotitie"] == "nieuw"
    assert after.headers["etag"] == patched.headers["etag"] != first.headers["etag"]
    listed = read(client, f"{PARTIJEN}?nummer={first.json()['nummer']}").json()["results"]
    assert listed == [after.json()]


def test_a_changed_related_object_shows_in_the_object_that_embeds_it(client: TestClient) -> None:
    before = read(client, f"{PARTIJEN}/{JAN}")
    assert embedded_adressen(before.json())[JANS_EMAIL] == "e-mail adres"
    read(client, f"{PARTIJEN}?_search=jansen")  # the list's answers are made (and cached) too

    patched = client.patch(f"{ADRESSEN}/{JANS_EMAIL}", json={"omschrijving": "werk"}, headers=ALL)
    assert patched.status_code == 200, patched.text

    after = read(client, f"{PARTIJEN}/{JAN}")
    assert embedded_adressen(after.json())[JANS_EMAIL] == "werk"
    assert after.headers["etag"] != before.headers["etag"]  # same version, another answer
    listed = read(client, f"{PARTIJEN}?_search=jansen").json()["results"]
    assert embedded_adressen(next(p for p in listed if p["id"] == JAN))[JANS_EMAIL] == "werk"


@pytest.mark.parametrize("first", [ALL, PARTIJ_ONLY], ids=["all first", "partij-only first"])
def test_each_caller_gets_what_it_may_read_whatever_was_cached(
    client: TestClient, first: dict[str, str]
) -> None:
    """A caller without the scope of digitale adressen never sees one embedded, also not after a
    caller with that scope read the same object (and the other way round)."""
    for _ in range(2):
        for headers in (first, PARTIJ_ONLY if first is ALL else ALL):
            item = read(client, f"{PARTIJEN}/{JAN}", headers).json()
            listed = read(client, f"{PARTIJEN}?_search=jansen", headers).json()["results"]
            jan = next(p for p in listed if p["id"] == JAN)
            if headers is ALL:
                assert JANS_EMAIL in embedded_adressen(item) and JANS_EMAIL in embedded_adressen(
                    jan
                )
            else:
                assert "verstrekteAdressen" not in item.get("embedded", {})
                assert "verstrekteAdressen" not in jan.get("embedded", {})
                assert JANS_EMAIL in item["verstrekteAdressen"]  # the reference stays


def test_fields_are_answered_as_asked_after_a_whole_read(client: TestClient) -> None:
    read(client, f"{PARTIJEN}/{JAN}")
    read(client, f"{PARTIJEN}?_search=jansen")
    assert set(read(client, f"{PARTIJEN}/{JAN}?_fields=nummer").json()) == {"id", "_self", "nummer"}
    listed = read(client, f"{PARTIJEN}?_search=jansen&_fields=nummer").json()["results"]
    assert listed and all(set(p) == {"id", "_self", "nummer"} for p in listed)


def test_a_listener_that_changes_reads_sees_every_read(demo_database: str) -> None:
    with serve(demo_database) as client:
        calls: list[str | None] = []

        async def stamp(event: Event) -> None:
            calls.append(event.object_id)
            assert isinstance(event.object, dict)
            event.object["interneNotitie"] = f"read {len(calls)}"

        client.app.state.service.events.listen(POST_READ, FunctionListener("stamp", stamp))  # type: ignore[attr-defined]
        notes = [read(client, f"{PARTIJEN}/{JAN}").json()["interneNotitie"] for _ in range(3)]
        assert notes == ["read 1", "read 2", "read 3"]


def test_without_a_cache_the_answers_are_the_same(demo_database: str) -> None:
    with serve(demo_database) as cached:
        with_cache = [read(cached, f"{PARTIJEN}/{JAN}").content for _ in range(2)]
        listed = read(cached, f"{PARTIJEN}?_search=jansen").content
        adres = read(cached, f"{ADRESSEN}/{JANS_EMAIL}").content  # no relations: cached on both
        assert len(cached.app.state.service.answers) > 0  # type: ignore[attr-defined]
    with serve(demo_database, answer_cache_mb=0) as uncached:
        assert read(uncached, f"{PARTIJEN}/{JAN}").content == with_cache[0] == with_cache[1]
        assert read(uncached, f"{PARTIJEN}?_search=jansen").content == listed
        assert read(uncached, f"{ADRESSEN}/{JANS_EMAIL}").content == adres
        assert len(uncached.app.state.service.answers) == 0  # type: ignore[attr-defined]


def test_the_cache_holds_at_most_its_bytes_and_forgets_the_oldest_first() -> None:
    cache = AnswerCache(max_bytes=100)
    answers = {n: encode({"n": n, "pad": "x" * 20}, 1, "t", None) for n in range(6)}
    for n, answer in answers.items():
        cache.put(n, answer)
    size = len(answers[0].body)
    assert cache.size <= 100 and len(cache) == 100 // size
    assert cache.get(0, 1, "t", None) is None  # the oldest went first
    assert cache.get(5, 1, "t", None) == answers[5]
    assert cache.get(5, 2, "t", None) is None  # another version
    assert cache.get(5, 1, "later", None) is None  # another modification time
    dependent = encode({"n": 9}, 1, "t", 7)
    cache.put(9, dependent)
    assert cache.get(9, 1, "t", 7) == dependent and cache.get(9, 1, "t", 8) is None
    assert dependent.etag.startswith('"1-')
    assert hashlib.blake2b(dependent.body, digest_size=6).hexdigest() in dependent.etag
    cache.put(10, encode({"big": "x" * 200}, 1, "t", None))  # larger than the whole cache
    assert cache.get(10, 1, "t", None) is None and cache.size <= 100
