"""The customer-interaction plugin's extend action against a fake Haal Centraal BRP on 127.0.0.1:
`?_extend[]=externeIdentificatie.partijIdentificator` embeds the person behind a partij's BSN."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from servers import FakeBrp, free_port, serving
from starlette.testclient import TestClient

from gateway_core.app import create_app, load_gateway
from gateway_core.cli import main
from gateway_core.config import Settings
from gateway_core.sections import read_sources

KIC = "/api/kic/v1"
BSN = "999993653"
EXTEND = "externeIdentificatie.partijIdentificator"


@pytest.fixture(scope="module")
def database(module_databases: Any) -> str:
    database: str = module_databases()
    command = ["install", "customer-interaction", "--data", "--database", database]
    assert main([*command, "--plugin", "customer-interaction"]) == 0
    return database


@pytest.fixture(scope="module")
def brp() -> Iterator[tuple[FakeBrp, str]]:
    fake = FakeBrp()
    with serving(fake.app()) as url:
        yield fake, f"{url}/haalcentraal/api/brp"


@pytest.fixture
def fake(brp: tuple[FakeBrp, str]) -> Iterator[FakeBrp]:
    brp[0].mode = "ok"
    brp[0].requests.clear()
    yield brp[0]
    brp[0].mode = "ok"


def client(database: str, location: str, timeout: float = 2) -> TestClient:
    settings = Settings(
        database=database,
        plugins=("customer-interaction",),
        sources=read_sources({"brp": {"location": location, "timeout": timeout}}, "test"),
    )
    return TestClient(create_app(settings, load_gateway(settings)))


def seed_partij(client: TestClient) -> dict[str, Any]:
    found = client.get(
        f"{KIC}/partijen",
        params={"externeIdentificatie.partijIdentificator.objectId": BSN, "_extend[]": EXTEND},
    )
    assert found.status_code == 200, found.text
    assert found.json()["total"] == 1
    partij: dict[str, Any] = found.json()["results"][0]
    return partij


def test_the_person_is_embedded_at_the_identificators_place(
    database: str, brp: tuple[FakeBrp, str], fake: FakeBrp
) -> None:
    with client(database, brp[1]) as api:
        partij = seed_partij(api)
        item = api.get(f"{KIC}/partijen/{partij['id']}", params={"_extend[]": EXTEND}).json()
    for document in (partij, item):
        person = document["embedded"]["externeIdentificatie"][0]["partijIdentificator"]
        assert person["burgerservicenummer"] == BSN
        assert person["naam"]["geslachtsnaam"] == "Jansen"
        assert "_extendErrors" not in document
        assert document["externeIdentificatie"][0]["partijIdentificator"]["objectId"] == BSN
    asked = fake.requests[0]
    assert asked["type"] == "RaadpleegMetBurgerservicenummer"
    assert asked["burgerservicenummer"] == [BSN]
    assert asked["fields"] == ["burgerservicenummer", "naam", "geboorte", "leeftijd", "adressering"]


def test_without_extend_nothing_is_fetched(
    database: str, brp: tuple[FakeBrp, str], fake: FakeBrp
) -> None:
    with client(database, brp[1]) as api:
        listed = api.get(f"{KIC}/partijen", params={"_limit": 50}).json()
    assert fake.requests == []
    assert all("externeIdentificatie" not in r.get("embedded", {}) for r in listed["results"])


def test_a_list_asks_in_batches_and_a_second_list_comes_from_the_cache(
    database: str, brp: tuple[FakeBrp, str], fake: FakeBrp
) -> None:
    with client(database, brp[1]) as api:
        first = api.get(f"{KIC}/partijen", params={"_limit": 30, "_extend[]": EXTEND}).json()
        calls = len(fake.requests)
        second = api.get(f"{KIC}/partijen", params={"_limit": 30, "_extend[]": EXTEND}).json()
    asked = [bsn for request in fake.requests for bsn in request["burgerservicenummer"]]
    assert len(asked) == len(set(asked))  # no BSN twice
    assert all(len(request["burgerservicenummer"]) <= 20 for request in fake.requests)
    assert calls == len(fake.requests) <= 2  # 30 partijen: at most two calls, then none
    assert first == second
    unknown = [r for r in first["results"] if "_extendErrors" in r]
    assert unknown and all(e["status"] == 404 for r in unknown for e in r["_extendErrors"])


def test_behind_a_relation_on_the_betrokkenen_endpoint(
    database: str, brp: tuple[FakeBrp, str], fake: FakeBrp
) -> None:
    with client(database, brp[1]) as api:
        partij = seed_partij(api)
        found = api.get(
            f"{KIC}/betrokkenenbijklantcontact",
            params={"partij": partij["id"], "_extend[]": f"partij.{EXTEND}"},
        )
        assert found.status_code == 200, found.text
        results = found.json()["results"]
        assert results
        embedded = results[0]["embedded"]["partij"]["embedded"]["externeIdentificatie"][0]
        assert embedded["partijIdentificator"]["burgerservicenummer"] == BSN
        wrong = api.get(f"{KIC}/klantcontacten", params={"_extend[]": EXTEND})
        assert wrong.status_code == 400  # a klantcontact holds no identificators


@pytest.mark.parametrize("mode", ["slow", "down", "garbage", "error"])
def test_a_failing_brp_still_answers_the_partij(
    database: str, brp: tuple[FakeBrp, str], fake: FakeBrp, mode: str
) -> None:
    fake.mode = mode
    location = brp[1] if mode != "down" else f"http://127.0.0.1:{free_port()}/haalcentraal/api/brp"
    with client(database, location, timeout=1.5) as api:
        started = time.monotonic()
        partij = seed_partij(api)
        elapsed = time.monotonic() - started
    assert "externeIdentificatie" not in partij.get("embedded", {})
    error = partij["_extendErrors"][0]
    assert error["path"] == "externeIdentificatie.0.partijIdentificator"
    assert error["source"] == "brp"
    assert error["status"] == (504 if mode == "slow" else 502)
    assert "'brp'" in error["detail"]
    assert elapsed < 4.5  # the fake answers only after 5 s when slow; the timeout is 1.5 s


def test_without_a_brp_source_the_error_says_so(database: str) -> None:
    settings = Settings(database=database, plugins=("customer-interaction",))
    with TestClient(create_app(settings, load_gateway(settings))) as api:
        partij = seed_partij(api)
    assert partij["_extendErrors"][0]["status"] == 502
    assert "not configured" in partij["_extendErrors"][0]["detail"]
