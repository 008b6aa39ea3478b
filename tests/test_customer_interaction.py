"""The customer-interaction plugin end to end: the seed's Mijn Zaken flow, the manifest's methods,
and the curl examples of docs/customer-interaction.md (run as written, responses checked)."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from customer_interaction import plugin
from starlette.testclient import TestClient

from gateway_core.app import create_app, load_gateway
from gateway_core.cli import main
from gateway_core.config import Settings
from gateway_core.manifest import ALL_METHODS, read_manifest
from gateway_core.schemas.formats import is_bsn

DOCS = Path(__file__).resolve().parents[1] / "docs" / "customer-interaction.md"
KIC = "/api/kic/v1"
BSN = "999993653"
SEED_QUERY = (
    f"{KIC}/partijen?externeIdentificatie.partijIdentificator.objectId={BSN}"
    "&externeIdentificatie.partijIdentificator.objecttype=ingeschrevenpersoon"
)


@pytest.fixture()
def client(database: str) -> Iterator[TestClient]:
    assert (
        main(
            [
                "install",
                "customer-interaction",
                "--data",
                "--database",
                str(database),
                "--plugin",
                "customer-interaction",
            ]
        )
        == 0
    )
    settings = Settings(database=str(database), plugins=("customer-interaction",))
    with TestClient(create_app(settings, load_gateway(settings))) as test_client:
        yield test_client


def test_mijn_zaken_flow(client: TestClient) -> None:
    found = client.get(SEED_QUERY).json()
    assert found["total"] == 1
    partij = found["results"][0]
    assert partij["externeIdentificatie"][0]["partijIdentificator"]["objectId"] == BSN

    adressen = client.get(f"{KIC}/partijen/{partij['id']}").json()["embedded"]["verstrekteAdressen"]
    by_kind = {adres["soortDigitaalAdres"]: adres["adres"] for adres in adressen}
    assert "@" in by_kind["emailadres"]
    assert by_kind["telefoonnummer"].startswith("06")

    bericht = client.post(
        f"{KIC}/berichten",
        json={"onderwerp": "Uw aanvraag is ontvangen", "gebruikerID": BSN, "partij": partij["id"]},
    )
    assert bericht.status_code == 201
    assert bericht.json()["id"] in client.get(f"{KIC}/partijen/{partij['id']}").json()["berichten"]

    taak = client.post(
        f"{KIC}/taken",
        json={
            "title": "Upload uw loonstrook",
            "status": "open",
            "betrokkenen": [{"betrokkeneType": "natuurlijk_persoon", "partij": partij["id"]}],
        },
    )
    assert taak.status_code == 201
    open_query = f"{KIC}/taken?betrokkenen.partij={partij['id']}&status=open"
    open_ids = {t["id"] for t in client.get(open_query).json()["results"]}
    assert taak.json()["id"] in open_ids

    closed = client.patch(f"{KIC}/taken/{taak.json()['id']}", json={"status": "gesloten"})
    assert closed.status_code == 200
    assert closed.json()["status"] == "gesloten"
    still_open = {t["id"] for t in client.get(open_query).json()["results"]}
    assert taak.json()["id"] not in still_open
    assert still_open == open_ids - {taak.json()["id"]}


def test_every_manifest_endpoint_answers_its_methods_and_405_otherwise(client: TestClient) -> None:
    manifest = read_manifest(plugin().manifest)  # type: ignore[arg-type]
    assert {spec.path for spec in manifest.endpoints} == {
        "betrokkenenbijklantcontact",
        "bijlagen",
        "digitaaladressen",
        "internetaken",
        "klantcontacten",
        "medewerkers",
        "organisatorischeeenheden",
        "partijen",
        "taken",
        "berichten",
        "klanten",
        "contactmomenten",
        "klantcontactmomenten",
    }
    for spec in manifest.endpoints:
        listing = client.get(f"{KIC}/{spec.path}")
        assert listing.status_code == 200, spec.path
        item_id = listing.json()["results"][0]["id"]
        for method in ALL_METHODS:
            target = f"{KIC}/{spec.path}" if method in ("POST",) else f"{KIC}/{spec.path}/{item_id}"
            if method == "GET":
                answer = client.get(target)
            else:
                answer = client.request(
                    method, target, json={"onbekendVeld": 1} if method != "DELETE" else None
                )
            if method in spec.methods:
                assert answer.status_code != 405, (spec.path, method)
            else:
                assert answer.status_code == 405, (spec.path, method)
                assert answer.headers["content-type"] == "application/problem+json"
                assert method not in answer.headers["allow"]


def test_demo_data_is_realistic(client: TestClient) -> None:
    partijen = client.get(f"{KIC}/partijen?_limit=100").json()
    assert partijen["total"] >= 50
    bsns = [
        p["externeIdentificatie"][0]["partijIdentificator"]["objectId"]
        for p in partijen["results"]
        if p["soortPartij"] == "persoon"
    ]
    assert bsns and all(is_bsn(bsn) for bsn in bsns)
    assert len(set(bsns)) == len(bsns)
    kvk = [p for p in partijen["results"] if p["soortPartij"] == "organisatie"]
    assert kvk and all(
        re.fullmatch(r"\d{8}", p["externeIdentificatie"][0]["partijIdentificator"]["objectId"])
        for p in kvk
    )
    for status in ("open", "ingediend", "verwerkt", "gesloten"):
        assert client.get(f"{KIC}/taken?status={status}").json()["total"] > 0, status
    for path in (
        "digitaaladressen",
        "klantcontacten",
        "betrokkenenbijklantcontact",
        "medewerkers",
        "organisatorischeeenheden",
        "internetaken",
        "berichten",
        "bijlagen",
    ):
        assert client.get(f"{KIC}/{path}").json()["total"] > 0, path
    assert client.get(f"{KIC}/berichten?partij.soortPartij=persoon").json()["total"] > 0


# -- the documented examples --------------------------------------------------------------------


def documented_examples() -> list[tuple[str, str, dict[str, Any]]]:
    """(title, curl command, expected response excerpt) for every sh block followed by a json block."""
    text = DOCS.read_text(encoding="utf-8")
    pairs = re.findall(r"```sh\n(curl .*?)\n```\n```json\n(.*?)\n```", text, flags=re.DOTALL)
    return [(command[:80], command, json.loads(expected)) for command, expected in pairs]


def run_curl(client: TestClient, command: str) -> Any:
    words = shlex.split(command)
    method, body, url = "GET", None, None
    index = 1
    while index < len(words):
        word = words[index]
        if word == "-X":
            method, index = words[index + 1], index + 2
        elif word == "-d":
            body, index = words[index + 1], index + 2
        elif word == "-H":
            index += 2
        elif word.startswith("-"):
            index += 1
        else:
            url, index = word, index + 1
    assert url is not None
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {"Content-Type": "application/json"} if body is not None else {}
    return client.request(method, target, content=body, headers=headers).json()


def contains(actual: Any, expected: Any) -> bool:
    """`expected` is an excerpt of `actual`: dict keys a subset, lists element-wise from the start."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and contains(actual[k], v) for k, v in expected.items()
        )
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) < len(expected) or (not expected and actual):
            return False
        return all(contains(a, e) for a, e in zip(actual, expected, strict=False))
    return bool(actual == expected)


def test_documented_examples_answer_as_documented(client: TestClient) -> None:
    examples = documented_examples()
    assert len(examples) >= 8
    for title, command, expected in examples:  # in order: later examples build on earlier ones
        actual = run_curl(client, command)
        assert contains(actual, expected), f"{title}\n{json.dumps(actual)[:1500]}"
