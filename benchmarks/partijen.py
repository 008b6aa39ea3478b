"""Benchmark data: Partij bodies with unique valid BSNs, and data files in TinyDB's format."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

FIRST_NAMES = [
    "Jan",
    "Fatima",
    "Pieter",
    "Sanne",
    "Mohammed",
    "Lotte",
    "Kees",
    "Anouk",
    "Daan",
    "Emma",
]
SURNAMES = [
    "Jansen",
    "de Vries",
    "van Dijk",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "Bos",
]
REGISTER = "https://brp.example.nl/haalcentraal/api/brp"
CREATED = "2024-01-15T09:30:00.000000+00:00"


def is_bsn(value: str) -> bool:
    if len(value) != 9 or not value.isdigit() or value == "000000000":
        return False
    total = sum(
        weight * int(digit) for weight, digit in zip(range(9, 1, -1), value[:8], strict=True)
    )
    return (total - int(value[8])) % 11 == 0


def bsns(seed: int = 1) -> Iterator[str]:
    """Unique nine-digit numbers passing the eleven-test, in a shuffled order."""
    rng = random.Random(seed)
    seen: set[str] = set()
    while True:
        first = f"{rng.randrange(10_000_000, 100_000_000):08d}"
        check = (
            sum(weight * int(digit) for weight, digit in zip(range(9, 1, -1), first, strict=True))
            % 11
        )
        if check == 10:
            continue
        value = first + str(check)
        if value not in seen:
            seen.add(value)
            yield value


def partij(number: int, bsn: str, rng: random.Random) -> dict[str, Any]:
    """A Partij (a person known by BSN) of about 0.8 KB as JSON."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
    prefix, _, surname = last.rpartition(" ")
    return {
        "nummer": number,
        "interneNotitie": (
            f"Klant sinds {2000 + number % 24}; voorkeur voor contact per e-mail. Dossier {number}."
        ),
        "indicatieGeheimhouding": False,
        "indicatieActief": True,
        "soortPartij": "persoon",
        "voorkeurstaal": {"code": "nld", "naam": "Nederlands"},
        "persoon": {
            "voornaam": first,
            "voorletters": f"{first[0]}.",
            "voorvoegselAchternaam": prefix,
            "achternaam": surname,
        },
        "externeIdentificatie": [
            {
                "partijIdentificator": {
                    "objecttype": "ingeschrevenpersoon",
                    "soortObjectId": "bsn",
                    "objectId": bsn,
                    "register": REGISTER,
                }
            }
        ],
    }


def write_data_file(
    path: Path, table: str, count: int, seed: int = 1
) -> tuple[list[str], list[str]]:
    """A TinyDB data file holding `count` Partij records; returns their ids and BSNs."""
    rng = random.Random(seed)
    numbers = bsns(seed)
    ids, used = [], []
    documents: dict[str, Any] = {}
    for index in range(count):
        object_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        bsn = next(numbers)
        documents[str(index + 1)] = {
            "id": object_id,
            "created": CREATED,
            "modified": CREATED,
            "data": partij(index + 1, bsn, rng),
        }
        ids.append(object_id)
        used.append(bsn)
    path.write_bytes(orjson.dumps({table: documents}))
    return ids, used
