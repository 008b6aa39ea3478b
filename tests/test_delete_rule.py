"""DELETE of an object other objects refer to: one test per row of the table in
docs/relations.md, section 6. A referrer is unlinked only where it may lose the reference (it
stays valid without it); otherwise the delete answers 409 naming it, and nothing is deleted.

Pet is the object deleted. Owner.pets <-> Pet.owner (two-way, optional), Licence.pet <-> Pet.licence
(two-way, required on the Licence), Vet.patients <-> Pet.vet (two-way, a list with minItems 1),
Collar.pet (to-one `cascadeDelete`: depends on its pet), Kennel.pets (to-many `cascadeDelete`:
owns its pets; minItems 1), Photo.pet (a plain reference).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import make_client, write_json
from starlette.testclient import TestClient

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def sid(name: str) -> str:
    return f"https://ex.org/delete/{name}.schema.json"


def many(target: str, **extra: Any) -> dict[str, Any]:
    return {"type": "array", "items": {"$ref": sid(target)}, **extra}


SCHEMAS: dict[str, dict[str, Any]] = {
    "pet": {
        "title": "Pet",
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "owner": {"$ref": sid("owner"), "inversedBy": "pets"},
            "licence": {"$ref": sid("licence"), "inversedBy": "pet"},
            "vet": {"$ref": sid("vet"), "inversedBy": "patients"},
        },
    },
    "owner": {
        "title": "Owner",
        "properties": {"name": {"type": "string"}, "pets": many("pet", inversedBy="owner")},
    },
    "licence": {
        "title": "Licence",
        "required": ["number", "pet"],
        "properties": {
            "number": {"type": "string"},
            "pet": {"$ref": sid("pet"), "inversedBy": "licence"},
        },
    },
    "vet": {
        "title": "Vet",
        "properties": {"patients": many("pet", inversedBy="vet", minItems=1)},
    },
    "collar": {
        "title": "Collar",
        "properties": {"pet": {"$ref": sid("pet"), "cascadeDelete": True}},
    },
    "kennel": {
        "title": "Kennel",
        "properties": {"pets": many("pet", cascadeDelete=True, minItems=1)},
    },
    "photo": {"title": "Photo", "properties": {"pet": {"$ref": sid("pet")}}},
}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    for name, body in SCHEMAS.items():
        write_json(
            tmp_path / "schemas" / f"{name}.schema.json",
            {"$schema": DRAFT, "$id": sid(name), "type": "object", **body},
        )
    with make_client(tmp_path, [tmp_path / "schemas"]) as test_client:
        yield test_client


def create(client: TestClient, collection: str, body: dict[str, Any]) -> str:
    response = client.post(f"/api/{collection}", json=body)
    assert response.status_code == 201, response.json()
    object_id: str = response.json()["id"]
    return object_id


def read(client: TestClient, collection: str, object_id: str) -> dict[str, Any]:
    response = client.get(f"/api/{collection}/{object_id}")
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def refused(client: TestClient, collection: str, object_id: str, *named: str) -> None:
    """The delete answers 409 naming `named`, and the object is still there."""
    response = client.delete(f"/api/{collection}/{object_id}")
    assert response.status_code == 409, response.text
    for text in named:
        assert text in response.json()["detail"]
    assert client.get(f"/api/{collection}/{object_id}").status_code == 200


def test_a_dependant_with_to_one_cascade_delete_is_deleted_too(client: TestClient) -> None:
    pet = create(client, "pet", {"name": "Rex"})
    collar = create(client, "collar", {"pet": pet})
    assert client.delete(f"/api/pet/{pet}").status_code == 204
    assert client.get(f"/api/collar/{collar}").status_code == 404


def test_an_owning_list_that_may_lose_the_object_lets_go(client: TestClient) -> None:
    rex, bello = create(client, "pet", {"name": "Rex"}), create(client, "pet", {"name": "Bello"})
    kennel = create(client, "kennel", {"pets": [rex, bello]})
    assert client.delete(f"/api/pet/{rex}").status_code == 204
    assert read(client, "kennel", kennel)["pets"] == [bello]


def test_an_owning_list_at_its_min_items_blocks_the_delete(client: TestClient) -> None:
    rex = create(client, "pet", {"name": "Rex"})
    kennel = create(client, "kennel", {"pets": [rex]})
    refused(client, "pet", rex, f"Kennel {kennel} (pets, cannot lose it)")


def test_an_optional_two_way_link_is_unlinked(client: TestClient) -> None:
    owner = create(client, "owner", {"name": "Ann", "pets": [{"name": "Rex"}, {"name": "Bo"}]})
    rex, bo = read(client, "owner", owner)["pets"]
    assert client.delete(f"/api/pet/{rex}").status_code == 204
    assert read(client, "owner", owner)["pets"] == [bo]
    assert client.delete(f"/api/owner/{owner}").status_code == 204  # the other side, to-one
    assert "owner" not in read(client, "pet", bo)


def test_a_required_two_way_link_blocks_the_delete(client: TestClient) -> None:
    pet = create(client, "pet", {"name": "Rex"})
    licence = create(client, "licence", {"number": "L-1", "pet": pet})
    assert read(client, "pet", pet)["licence"] == licence  # the link is two-way
    refused(client, "pet", pet, f"Licence {licence} (pet, cannot lose it)")
    # the holder's own side may go: deleting the licence unlinks the pet
    assert client.delete(f"/api/licence/{licence}").status_code == 204
    assert "licence" not in read(client, "pet", pet)


def test_a_two_way_list_at_its_min_items_blocks_the_delete(client: TestClient) -> None:
    rex, bo = create(client, "pet", {"name": "Rex"}), create(client, "pet", {"name": "Bo"})
    vet = create(client, "vet", {"patients": [rex, bo]})
    assert client.delete(f"/api/pet/{rex}").status_code == 204  # one patient left: may lose it
    refused(client, "pet", bo, f"Vet {vet} (patients, cannot lose it)")


def test_any_other_reference_blocks_the_delete(client: TestClient) -> None:
    pet = create(client, "pet", {"name": "Rex"})
    photo = create(client, "photo", {"pet": pet})
    refused(client, "pet", pet, f"Photo {photo} (pet)")


def test_a_blocked_delete_changes_nothing(client: TestClient) -> None:
    """Unlinks and cascades planned before the 409 are not written."""
    owner = create(client, "owner", {"name": "Ann", "pets": [{"name": "Rex"}]})
    (pet,) = read(client, "owner", owner)["pets"]
    collar = create(client, "collar", {"pet": pet})
    create(client, "licence", {"number": "L-2", "pet": pet})
    refused(client, "pet", pet, "Licence")
    assert read(client, "owner", owner)["pets"] == [pet]
    assert client.get(f"/api/collar/{collar}").status_code == 200


def test_an_update_cannot_take_a_required_link_away(client: TestClient) -> None:
    """The same rule when a write, not a delete, would unlink: found by schemathesis (a
    Klantcontact patched without its bijlagen left them without their required klantcontact)."""
    pet = create(client, "pet", {"name": "Rex"})
    licence = create(client, "licence", {"number": "L-3", "pet": pet})
    response = client.patch(f"/api/pet/{pet}", json={"licence": None})
    assert response.status_code == 400
    assert response.json()["invalidParams"] == [
        {"name": "licence", "code": "relation", "reason": f"Licence {licence} cannot lose its pet"}
    ]
    assert read(client, "licence", licence)["pet"] == pet
    other = create(client, "pet", {"name": "Bo"})  # moving the licence to another pet is fine
    assert client.patch(f"/api/licence/{licence}", json={"pet": other}).status_code == 200
    assert "licence" not in read(client, "pet", pet)
