"""Writes the plugin's demo fixtures (plugin/fixtures/*.json), deterministically.

Run `python -m customer_interaction.demo_data` after changing it; the generated files are
committed. Persons carry test BSNs in the 99999xxxx range that pass the eleven-test (999993653,
the seed document's example, is the first); organisations carry KvK numbers.
"""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any

from gateway_core.schemas.formats import is_bsn

KLANT = "https://commongateway.nl/klant."
NAMESPACE = uuid.UUID("0d8c6a55-1b0e-4c1a-9e43-6a2c7d9b5f10")
FOLDER = Path(__file__).resolve().parent / "fixtures"

FIRST_NAMES = [
    "Jan",
    "Fatima",
    "Pieter",
    "Sanne",
    "Mohamed",
    "Eva",
    "Kees",
    "Noor",
    "Daan",
    "Lotte",
    "Ahmed",
    "Femke",
    "Bram",
    "Yasmin",
    "Thijs",
    "Anouk",
    "Ruben",
    "Iris",
    "Sem",
    "Julia",
]
SURNAMES = [
    ("", "Jansen"),
    ("de", "Vries"),
    ("van den", "Berg"),
    ("", "Bakker"),
    ("", "El Amrani"),
    ("van", "Dijk"),
    ("", "Visser"),
    ("", "Smit"),
    ("de", "Boer"),
    ("", "Yilmaz"),
    ("van der", "Meer"),
    ("", "Mulder"),
    ("", "Bos"),
    ("", "Vos"),
    ("", "Peters"),
]
COMPANIES = [
    "Bakkerij De Korenschoof",
    "Fietsenmakerij Van Dam",
    "Installatiebedrijf Noord B.V.",
    "Stichting Buurtwerk Oost",
    "Kapsalon Knipwerk",
    "Groenvoorziening Het Park",
    "Drukkerij Letterzetter",
    "Café De Gouden Leeuw",
    "Schoonmaakbedrijf Glans",
    "Architectenbureau Lijnwerk",
    "Zorgcentrum De Linde",
    "Autobedrijf Snelweg",
    "Boekhandel Het Kaft",
    "Transportbedrijf Rijnmond",
    "Tandartspraktijk Wit",
]
TAAK_TITLES = [
    "Lever uw inkomensgegevens aan",
    "Upload een kopie van uw paspoort",
    "Bevestig uw afspraak",
    "Vul het aanvraagformulier parkeervergunning in",
    "Reageer op het voornemen tot besluit",
    "Betaal de leges voor uw aanvraag",
    "Geef uw bankrekeningnummer door",
]
ONDERWERPEN = [
    "Uw aanvraag is ontvangen",
    "Besluit op uw aanvraag",
    "Herinnering: taak verloopt",
    "Wijziging afspraak",
    "Nieuwe informatie over uw zaak",
]
STATUSES = ["open", "ingediend", "verwerkt", "gesloten"]


def uid(kind: str, index: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}-{index}"))


def test_bsns(count: int) -> list[str]:
    found = ["999993653"]
    candidate = 999990000
    while len(found) < count:
        candidate += 1
        text = str(candidate)
        if is_bsn(text) and text not in found:
            found.append(text)
    return found


def iso(day: int, hour: int = 10) -> str:
    return f"2026-{1 + day // 28:02d}-{1 + day % 28:02d}T{hour:02d}:00:00+01:00"


def build() -> dict[str, tuple[str, list[dict[str, Any]]]]:
    rng = random.Random(20261123)
    files: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    eenheden = [
        {
            "_id": uid("eenheid", i),
            "omschrijving": name,
            "eMailadres": f"{slug}@gemeente.example.nl",
            "telefoonnummer": f"14 0{i + 10}",
        }
        for i, (name, slug) in enumerate(
            [
                ("Publiekszaken", "publiekszaken"),
                ("Belastingen", "belastingen"),
                ("Vergunningen", "vergunningen"),
                ("Werk en Inkomen", "werkeninkomen"),
                ("Klantcontactcentrum", "kcc"),
            ]
        )
    ]
    files["10-organisatorische-eenheden"] = (
        f"{KLANT}organisatorischeEenheid.schema.json",
        eenheden,
    )
    functies = [
        "KCC-medewerker",
        "Vergunningverlener",
        "Consulent werk en inkomen",
        "Teamleider KCC",
        "Belastingadviseur",
        "Medewerker publiekszaken",
        "Casemanager",
        "Senior KCC-medewerker",
    ]
    medewerkers = [
        {
            "_id": uid("medewerker", i),
            "functie": functie,
            "eMailadres": f"medewerker{i + 1}@gemeente.example.nl",
            "telefoonnummer": f"070 35{i:02d} 100",
        }
        for i, functie in enumerate(functies)
    ]
    files["20-medewerkers"] = (f"{KLANT}medewerker.schema.json", medewerkers)

    bsns = test_bsns(45)
    adressen: list[dict[str, Any]] = []
    partijen: list[dict[str, Any]] = []
    for i in range(60):
        person = i < 45
        email_id, phone_id = uid("adres-email", i), uid("adres-telefoon", i)
        if person:
            voornaam = FIRST_NAMES[i % len(FIRST_NAMES)]
            voorvoegsel, achternaam = SURNAMES[(i * 7) % len(SURNAMES)]
            local = f"{voornaam}.{(voorvoegsel + achternaam).replace(' ', '')}".lower()
            email = f"{local}@example.nl"
        else:
            naam = COMPANIES[i - 45]
            email = f"info@{naam.split()[-1].lower().replace('.', '')}{i}.example.nl"
        adressen.append(
            {
                "_id": email_id,
                "adres": email,
                "omschrijving": "e-mail adres",
                "soortDigitaalAdres": "emailadres",
            }
        )
        adressen.append(
            {
                "_id": phone_id,
                "adres": f"06 {12000000 + i * 7919:08d}"[:14],
                "omschrijving": "telefoonnummer mobiel" if person else "telefoonnummer kantoor",
                "soortDigitaalAdres": "telefoonnummer",
            }
        )
        partij: dict[str, Any] = {
            "_id": uid("partij", i),
            "nummer": 1001 + i,
            "interneNotitie": "Demo-klant"
            if i % 5
            else "Demo-klant; geeft de voorkeur aan telefonisch contact",
            "indicatieGeheimhouding": i % 17 == 0,
            "indicatieActief": i % 23 != 0,
            "soortPartij": "persoon" if person else "organisatie",
            "verstrekteAdressen": [email_id, phone_id],
            "voorkeurskanaal": email_id if i % 3 else phone_id,
            "voorkeurstaal": {"code": "nld", "naam": "Nederlands"},
        }
        if person:
            partij["persoon"] = {
                "voornaam": voornaam,
                "voorletters": f"{voornaam[0]}.",
                "achternaam": achternaam,
                **({"voorvoegselAchternaam": voorvoegsel} if voorvoegsel else {}),
            }
            partij["externeIdentificatie"] = [
                {
                    "partijIdentificator": {
                        "objecttype": "ingeschrevenpersoon",
                        "soortObjectId": "bsn",
                        "objectId": bsns[i],
                        "register": "https://brp.basisregistraties.overheid.nl",
                    }
                }
            ]
        else:
            partij["organisatie"] = {"naam": naam}
            partij["externeIdentificatie"] = [
                {
                    "partijIdentificator": {
                        "objecttype": "niet_natuurlijk_persoon",
                        "soortObjectId": "integer",
                        "objectId": f"{60000000 + (i - 45) * 104729 % 39999999:08d}",
                        "register": "https://www.kvk.nl/handelsregister",
                    }
                }
            ]
        partijen.append(partij)
    files["30-digitaaladressen"] = (f"{KLANT}digitaalAdres.schema.json", adressen)
    files["40-partijen"] = (f"{KLANT}partij.schema.json", partijen)

    klantcontacten, betrokkenen, bijlagen = [], [], []
    for i in range(30):
        partij_index = rng.randrange(60)
        klantcontacten.append(
            {
                "_id": uid("klantcontact", i),
                "nummer": 5001 + i,
                "onderwerp": rng.choice(
                    [
                        "Vraag over aanslag",
                        "Parkeervergunning",
                        "Verhuizing doorgeven",
                        "Klacht afvalinzameling",
                        "Aanvraag uitkering",
                    ]
                ),
                "inhoud": "Klant belde met een vraag; afgehandeld door het KCC.",
                "indicatieContactGelukt": rng.choice(["ja", "ja", "nee", "onbekend"]),
                "kanaal": uid("adres-telefoon" if i % 2 else "adres-email", partij_index),
                "taal": "nld",
                "vertrouwelijk": "nee",
                "plaatsgevondenOp": iso(i, 9 + i % 8),
            }
        )
        betrokkenen.append(
            {
                "_id": uid("betrokkene", i),
                "klantcontact": uid("klantcontact", i),
                "partij": uid("partij", partij_index),
                "rol": "klant",
                "intitiator": True,
                "organisatienaam": COMPANIES[partij_index - 45] if partij_index >= 45 else None,
            }
        )
        if betrokkenen[-1]["organisatienaam"] is None:
            del betrokkenen[-1]["organisatienaam"]
        if i % 3 == 0:
            bijlagen.append(
                {
                    "_id": uid("bijlage", i),
                    "klantcontact": uid("klantcontact", i),
                    "objectIdentificator": {
                        "objecttype": "informatieobject",
                        "soortObjectId": "uuid",
                        "objectId": uid("document", i),
                        "register": "https://documenten.gemeente.example.nl",
                    },
                }
            )
    files["50-klantcontacten"] = (f"{KLANT}klantcontact.schema.json", klantcontacten)
    files["60-betrokkenen-bij-klantcontact"] = (
        f"{KLANT}betrokkeneBijKlantcontact.schema.json",
        betrokkenen,
    )
    files["65-bijlagen"] = (f"{KLANT}bijlage.schema.json", bijlagen)

    files["70-internetaken"] = (
        f"{KLANT}interneTaak.schema.json",
        [
            {
                "_id": uid("internetaak", i),
                "nummer": 7001 + i,
                "gevraagdeHandeling": "Klant terugbellen over de vraag",
                "toegewezenOp": iso(i + 1, 11),
                "status": "verwerkt" if i % 3 == 0 else "te_verwerken",
                "klantcontact": uid("klantcontact", i),
                "actor": {
                    "naam": functies[i % 8],
                    "soortActor": "Medewerker",
                    "medewerker": uid("medewerker", i % 8),
                },
            }
            for i in range(12)
        ],
    )

    taken = []
    for i in range(40):
        partij_index = i % 45
        taken.append(
            {
                "_id": uid("taak", i),
                "title": TAAK_TITLES[i % len(TAAK_TITLES)],
                "status": STATUSES[i % 4],
                "onderwerp": "Aanvraag "
                + ["bijstand", "parkeervergunning", "paspoort", "kapvergunning"][i % 4],
                "zaak": f"https://zaken.gemeente.example.nl/api/v1/zaken/{uid('zaak', i)}",
                "verloopdatum": iso(40 + i, 17),
                "vervaldatum": iso(47 + i, 17),
                "actie": {
                    "type": "url",
                    "value": f"https://formulieren.gemeente.example.nl/taak/{i + 1}",
                },
                "identificatie": {"type": "bsn", "value": bsns[partij_index]},
                "betrokkenen": [
                    {
                        "betrokkeneType": "natuurlijk_persoon",
                        "rolType": "initiator",
                        "partij": uid("partij", partij_index),
                        "betrokkene": {
                            "naam": partijen[partij_index]["persoon"]["achternaam"],
                            "inpBsn": bsns[partij_index],
                        },
                    }
                ],
            }
        )
    files["80-taken"] = (f"{KLANT}taak.schema.json", taken)

    files["90-berichten"] = (
        f"{KLANT}bericht.schema.json",
        [
            {
                "_id": uid("bericht", i),
                "partij": uid("partij", i % 45),
                "gebruikerID": bsns[i % 45],
                "onderwerp": ONDERWERPEN[i % len(ONDERWERPEN)],
                "berichtType": "notificatie",
                "berichttekst": "U heeft een nieuw bericht in Mijn Zaken. Log in om het te lezen.",
                "publicatieDatum": iso(i)[:10],  # dates (format: date), as the ADR reads `...Datum`
                "aanmaakDatum": iso(i)[:10],
                "referentie": f"BER-2026-{i + 1:04d}",
                "batchID": f"batch-{i // 10 + 1}",
            }
            for i in range(40)
        ],
    )
    return files


def write(folder: Path = FOLDER) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.json"):
        old.unlink()
    for name, (schema_id, objects) in build().items():
        content = {"schema": schema_id, "objects": objects}
        (folder / f"{name}.json").write_text(
            json.dumps(content, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )


if __name__ == "__main__":
    write()
