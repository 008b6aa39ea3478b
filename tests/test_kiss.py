"""The KISS endpoints of the customer-interaction plugin (docs/customer-interaction.md, section 7):
klanten, contactmomenten and klantcontactmomenten, served through mappings, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway_core.app import create_app, load_gateway
from gateway_core.cli import main
from gateway_core.config import Settings

KIC = "/api/kic/v1"
DEMO_PARTIJ = "d89b93c9-e44c-5dad-b15a-1d9c929aba0c"
DEMO_KLANTCONTACT = "cf987155-e152-54ce-a6f9-e40544166938"
LAND = {
    "landcode": "NL",
    "landnaam": "Nederland",
    "ingangsdatumLand": "1900-01-01",
    "einddatumLand": "9999-12-31",
}
ADRES = {
    "straatnaam": "Dorpsstraat",
    "huisnummer": 12,
    "huisletter": "a",
    "postcode": "3511AB",
    "woonplaatsnaam": "Utrecht",
    "landcode": "NL",
    "aanduidingBijHuisnummer": "bij",
    "land": LAND,
}
KLANT: dict[str, Any] = {
    "klantnummer": "4711",
    "subjectType": "persoon",
    "voornaam": "Jan",
    "voorvoegselAchternaam": "van",
    "achternaam": "Dijk",
    "functie": "inwoner",
    "adressen": [ADRES, {**ADRES, "straatnaam": "Postbuslaan", "huisnummer": 1, "huisletter": "b"}],
    "emails": [{"email": "jan@example.nl", "naam": "privé"}],
    "telefoonnummers": [{"telefoonnummer": "0612345678", "naam": "mobiel"}],
    "subjectIdentificatie": {"inpBsn": "999990019"},
}
BEDRIJF: dict[str, Any] = {
    "klantnummer": "4712",
    "subjectType": "organisatie",
    "bedrijfsnaam": "Bakkerij De Korrel",
    "emails": [],
    "telefoonnummers": [{"telefoonnummer": "0301234567", "naam": "winkel"}],
    "subjectIdentificatie": {"vestigingsNummer": "000012345678"},
}


@pytest.fixture(scope="module")
def client(module_databases: Any) -> Iterator[TestClient]:
    database = module_databases()
    command = ["install", "customer-interaction", "--data", "--database", database]
    assert main([*command, "--plugin", "customer-interaction"]) == 0
    settings = Settings(database=database, plugins=("customer-interaction",))
    with TestClient(create_app(settings, load_gateway(settings))) as test_client:
        yield test_client


def without_ids(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in item.items() if k != "id"} for item in items]


@pytest.mark.parametrize("klant", [KLANT, BEDRIJF], ids=["persoon", "organisatie"])
def test_a_klant_round_trips_through_a_partij(client: TestClient, klant: dict[str, Any]) -> None:
    created = client.post(f"{KIC}/klanten", json=klant)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"{KIC}/klanten/{created.json()['id']}"
    read = client.get(f"{KIC}/klanten/{created.json()['id']}").json()
    for document in (created.json(), read):
        for field, value in klant.items():
            if field in ("emails", "telefoonnummers"):
                assert without_ids(document[field]) == value, field
                assert without_ids(document["embedded"][field]) == value, field
            else:
                assert document[field] == value, field
        identification = document["embedded"]["subjectIdentificatie"]
        assert {k: v for k, v in identification.items() if v is not None} == klant[
            "subjectIdentificatie"
        ]
    partij = client.get(f"{KIC}/partijen/{read['id']}").json()  # the same object, in its own shape
    assert partij["nummer"] == int(klant["klantnummer"])
    assert partij["soortPartij"] == klant["subjectType"]
    if klant is KLANT:
        assert partij["persoon"] == {
            "voornaam": "Jan",
            "voorvoegselAchternaam": "van",
            "achternaam": "Dijk",
        }
        assert partij["bezoekadres"]["straat"] == "Dorpsstraat"
        assert partij["correspondentieadres"]["soortCorrespondentieadres"] == "binnenlands_adres"
        identificator = partij["externeIdentificatie"][0]["partijIdentificator"]
        assert identificator["objecttype"] == "ingeschrevenpersoon"
        assert identificator["soortObjectId"] == "bsn"
        adressen = partij["embedded"]["verstrekteAdressen"]
        assert {(a["soortDigitaalAdres"], a["adres"]) for a in adressen} == {
            ("emailadres", "jan@example.nl"),
            ("telefoonnummer", "0612345678"),
        }
    else:
        assert partij["organisatie"] == {"naam": "Bakkerij De Korrel"}


def test_a_partij_made_elsewhere_reads_as_a_klant(client: TestClient) -> None:
    klant = client.get(f"{KIC}/klanten/{DEMO_PARTIJ}").json()
    assert klant["klantnummer"] == "1001"
    assert klant["achternaam"] == "Jansen"
    assert klant["embedded"]["subjectIdentificatie"]["inpBsn"] == "999993653"
    assert [e["email"] for e in klant["embedded"]["emails"]] == ["jan.jansen@example.nl"]
    assert [t["telefoonnummer"] for t in klant["telefoonnummers"]] == ["06 12000000"]
    assert "nummer" not in klant and "verstrekteAdressen" not in klant  # only the facade's shape


def test_the_bsn_query_and_an_email_query_through_klanten(client: TestClient) -> None:
    found = client.get(
        f"{KIC}/klanten", params={"embedded.subjectIdentificatie.inpBsn": "999993653"}
    )
    assert found.status_code == 200, found.text
    assert [k["id"] for k in found.json()["results"]] == [DEMO_PARTIJ]
    assert found.json()["results"][0]["klantnummer"] == "1001"
    by_email = client.get(f"{KIC}/klanten", params={"embedded.emails.email[like]": "JAN.JANSEN@"})
    assert [k["id"] for k in by_email.json()["results"]] == [DEMO_PARTIJ]
    by_name = client.get(f"{KIC}/klanten", params={"achternaam": "jansen", "_limit": 100})
    assert DEMO_PARTIJ in [k["id"] for k in by_name.json()["results"]]
    ordered = client.get(
        f"{KIC}/klanten", params={"_order[klantnummer]": "desc", "_limit": 2}
    ).json()
    assert int(ordered["results"][0]["klantnummer"]) >= int(ordered["results"][1]["klantnummer"])
    unknown = client.get(f"{KIC}/klanten", params={"schoenmaat": "44"})
    assert unknown.status_code == 400
    assert unknown.json()["invalidParams"][0]["name"] == "schoenmaat"


def test_a_patch_and_a_put_through_klanten(client: TestClient) -> None:
    created = client.post(f"{KIC}/klanten", json={**KLANT, "klantnummer": "4800"}).json()
    url = f"{KIC}/klanten/{created['id']}"
    adressen_before = client.get(f"{KIC}/partijen/{created['id']}").json()["verstrekteAdressen"]
    patched = client.patch(url, json={"achternaam": "Dijkstra", "functie": None})
    assert patched.status_code == 200, patched.text
    assert patched.json()["achternaam"] == "Dijkstra"
    assert "functie" not in patched.json()
    assert patched.json()["emails"] == created["emails"]  # the same digitale adressen, not copies
    partij = client.get(f"{KIC}/partijen/{created['id']}").json()
    assert partij["verstrekteAdressen"] == adressen_before
    assert partij["persoon"]["achternaam"] == "Dijkstra"
    assert partij["_self"]["version"] == 2
    replaced = client.put(url, json={**BEDRIJF, "klantnummer": "4800"})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["bedrijfsnaam"] == "Bakkerij De Korrel"
    assert "achternaam" not in replaced.json()
    stale = client.patch(
        url, json={"achternaam": "X"}, headers={"If-Match": patched.headers["etag"]}
    )
    assert stale.status_code == 412
    assert client.delete(url).status_code == 204
    assert client.get(f"{KIC}/partijen/{created['id']}").status_code == 404


def test_validation_errors_name_the_facades_fields(client: TestClient) -> None:
    refused = client.post(f"{KIC}/klanten", json={"subjectType": "iets", "achternaam": 5})
    assert refused.status_code == 400
    names = {p["name"] for p in refused.json()["invalidParams"]}
    assert {"klantnummer", "subjectType", "achternaam"} <= names
    not_a_list = client.post(f"{KIC}/klanten", json={**KLANT, "emails": "jan@example.nl"})
    assert not_a_list.status_code == 400
    problem = not_a_list.json()  # checked against the facade's shape before it is mapped
    assert [p["name"] for p in problem["invalidParams"]] == ["emails"]
    assert not_a_list.headers["content-type"] == "application/problem+json"


def test_a_contactmoment_becomes_a_klantcontact(client: TestClient) -> None:
    contactmoment = {
        "bronorganisatie": "123456782",
        "registratiedatum": "2026-11-20T10:00:00+01:00",
        "kanaal": "telefoon",
        "tekst": "Vraag over de afvalpas",
        "onderwerp": "afval",
        "resultaat": "informatie gegeven",
        "zaaknummer": "ZAAK-2026-0001",
        "voorkeurstaal": "nld",
    }
    created = client.post(f"{KIC}/contactmomenten", json=contactmoment)
    assert created.status_code == 201, created.text
    for field, value in contactmoment.items():
        assert created.json()[field] == value, field
    klantcontact = client.get(f"{KIC}/klantcontacten/{created.json()['id']}").json()
    assert klantcontact["inhoud"] == "Vraag over de afvalpas"
    assert klantcontact["nummer"] == 123456782
    assert klantcontact["plaatsgevondenOp"] == "2026-11-20T10:00:00+01:00"
    assert klantcontact["gaatOver"]["objectIdentificator"]["objectId"] == "ZAAK-2026-0001"
    assert klantcontact["embedded"]["kanaal"]["soortDigitaalAdres"] == "telefoonnummer"
    patched = client.patch(
        f"{KIC}/contactmomenten/{created.json()['id']}", json={"tekst": "Aangevuld"}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["tekst"] == "Aangevuld"
    assert patched.json()["kanaal"] == "telefoon"
    missing = client.post(f"{KIC}/contactmomenten", json={"tekst": "zonder kanaal"})
    assert {"bronorganisatie", "registratiedatum", "kanaal"} <= {
        p["name"] for p in missing.json()["invalidParams"]
    }


def test_a_contactmoment_is_linked_to_a_klant(client: TestClient) -> None:
    link = {
        "contactmoment": f"http://testserver{KIC}/contactmomenten/{DEMO_KLANTCONTACT}",
        "klant": f"{KIC}/klanten/{DEMO_PARTIJ}",
    }
    created = client.post(f"{KIC}/klantcontactmomenten", json=link)
    assert created.status_code == 201, created.text
    assert created.json()["contactmoment"] == f"{KIC}/contactmomenten/{DEMO_KLANTCONTACT}"
    assert created.json()["klant"] == f"{KIC}/klanten/{DEMO_PARTIJ}"
    assert created.json()["rol"] == "klant"
    betrokkene = client.get(f"{KIC}/betrokkenenbijklantcontact/{created.json()['id']}").json()
    assert betrokkene["partij"] == DEMO_PARTIJ
    assert betrokkene["klantcontact"] == DEMO_KLANTCONTACT
    assert betrokkene["rol"] == "klant"
    found = client.get(
        f"{KIC}/klantcontactmomenten", params={"klant": f"{KIC}/klanten/{DEMO_PARTIJ}"}
    )
    assert created.json()["id"] in [r["id"] for r in found.json()["results"]]
    by_id = client.get(f"{KIC}/klantcontactmomenten", params={"contactmoment": DEMO_KLANTCONTACT})
    assert created.json()["id"] in [r["id"] for r in by_id.json()["results"]]
    assert client.delete(f"{KIC}/klantcontactmomenten/{created.json()['id']}").status_code == 204


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("klanten", "GET, POST, PUT, PATCH, DELETE"),
        ("contactmomenten", "GET, POST, PATCH"),
        ("klantcontactmomenten", "GET, POST, PUT, PATCH, DELETE"),
    ],
)
def test_the_originals_method_lists(client: TestClient, path: str, allowed: str) -> None:
    collection = client.get(f"{KIC}/{path}", params={"_limit": 1}).json()
    item = (
        f"{KIC}/{path}/{collection['results'][0]['id']}"
        if collection["results"]
        else f"{KIC}/{path}/x"
    )
    for method in ("PUT", "PATCH", "DELETE"):
        if method not in allowed:
            refused = client.request(method, item, json={})
            assert refused.status_code == 405
            assert refused.headers["allow"] == allowed.replace(", POST", "")
    refused = client.request("DELETE", f"{KIC}/{path}")
    assert refused.status_code == 405


def test_a_facade_patch_keeps_what_it_does_not_show(client: TestClient) -> None:
    """A contactmoment does not show the klantcontact's bijlagen; patching it keeps them."""
    bijlage = client.get(f"{KIC}/bijlagen", params={"_limit": 1}).json()["results"][0]
    klantcontact = bijlage["klantcontact"]
    patched = client.patch(f"{KIC}/contactmomenten/{klantcontact}", json={"tekst": "Aangevuld"})
    assert patched.status_code == 200, patched.text
    after = client.get(f"{KIC}/klantcontacten/{klantcontact}").json()
    assert after["inhoud"] == "Aangevuld"
    assert bijlage["id"] in after["bijlagen"]


def test_facade_query_values_are_checked(client: TestClient) -> None:
    """The query parameters a facade's query mapping reads are checked against its shape."""
    refused = client.get(f"{KIC}/klanten", params={"subjectType": "iets", "klantnummer": "12a"})
    assert refused.status_code == 400
    assert {p["name"] for p in refused.json()["invalidParams"]} == {"subjectType", "klantnummer"}
    order = client.get(f"{KIC}/klanten", params={"_order[achternaam]": "omhoog"})
    assert order.status_code == 400
    assert client.get(f"{KIC}/klanten", params={"subjectType": "persoon"}).status_code == 200
    not_a_reference = client.get(f"{KIC}/klantcontactmomenten", params={"klant": "abc"})
    assert not_a_reference.status_code == 400
    by_url = client.get(
        f"{KIC}/klantcontactmomenten", params={"klant": f"{KIC}/klanten/{DEMO_PARTIJ}"}
    )
    assert by_url.status_code == 200


def test_a_facade_patch_is_not_refused_for_fields_it_does_not_touch(client: TestClient) -> None:
    """A klantcontact written elsewhere with a nummer no contactmoment would take (negative) can
    still be patched through /contactmomenten: the patch is checked, not the fields around it."""
    created = client.post(
        f"{KIC}/contactmomenten",
        json={
            "bronorganisatie": "7",
            "registratiedatum": "2026-11-20T10:00:00+01:00",
            "kanaal": "telefoon",
            "onderwerp": "afval",
        },
    ).json()
    assert (
        client.patch(f"{KIC}/klantcontacten/{created['id']}", json={"nummer": -5}).status_code
        == 200
    )
    patched = client.patch(f"{KIC}/contactmomenten/{created['id']}", json={"tekst": "Aangevuld"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["bronorganisatie"] == "-5"
    refused = client.patch(f"{KIC}/contactmomenten/{created['id']}", json={"bronorganisatie": "-5"})
    assert refused.status_code == 400  # what the patch itself says is still checked
