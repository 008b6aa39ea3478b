"""Code generators on the customer-interaction API's document, as the teams that use it would run
them: openapi-python-client (a Python client; every operation generated, none skipped, and the
Mijn Zaken flow driven through it against the real gateway) and openapi-typescript (the types a
portal team compiles against; the same flow type-checks with tsc)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import served_demo_gateway
from tools.npm_tools import npm_tool

from gateway_core.app import api_description, load_gateway
from gateway_core.config import Settings

KIC = "/api/kic/v1"
SEED_BSN = "999993653"  # the demo Partij the seed's BSN query finds
GENERATOR_SECONDS = 120


@pytest.fixture(scope="module")
def document_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = Settings(plugins=("customer-interaction",))
    document = api_description(config, load_gateway(config))
    target = tmp_path_factory.mktemp("document") / "openapi.json"
    target.write_text(json.dumps(document), encoding="utf-8")
    return target


def _operations(document_file: Path) -> int:
    document = json.loads(document_file.read_text(encoding="utf-8"))
    return sum(1 for item in document["paths"].values() for key in item if key != "parameters")


@pytest.fixture(scope="module")
def python_client(
    document_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, str]]:
    """The generated package (imported) and the generator's output."""
    folder = tmp_path_factory.mktemp("python-client")
    generator = Path(sys.executable).with_name("openapi-python-client")
    command = [str(generator), "generate", "--path", str(document_file)]
    command += ["--output-path", str(folder / "kic_client"), "--meta", "none"]
    # it formats what it generates with ruff, from the same environment
    path = f"{generator.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    run = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=GENERATOR_SECONDS,
        check=False,
        env={**os.environ, "PATH": path},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module("kic_client"), run.stdout + run.stderr
    finally:
        sys.path.remove(str(folder))
        for name in [n for n in sys.modules if n == "kic_client" or n.startswith("kic_client.")]:
            del sys.modules[name]


def test_every_operation_is_generated(python_client: tuple[Any, str], document_file: Path) -> None:
    package, output = python_client
    assert "Warning" not in output and "Unable to" not in output, output  # nothing skipped
    modules = [p for p in Path(package.__file__).parent.glob("api/*/*.py") if p.stem != "__init__"]
    assert len(modules) == _operations(document_file) == 74


def test_the_mijn_zaken_flow_through_the_python_client(
    python_client: tuple[Any, str], tmp_path: Path
) -> None:
    """Create a digitaal adres, create a partij with a BSN that uses it, find the seed's partij
    with the BSN query, patch the new partij: every answer parsed into the generated models."""
    package, _ = python_client
    models = importlib.import_module("kic_client.models")
    api = "kic_client.api"
    create_adres = importlib.import_module(f"{api}.digitaal_adres.create_digitaaladressen")
    create_partij = importlib.import_module(f"{api}.partij.create_partijen")
    list_partijen = importlib.import_module(f"{api}.partij.list_partijen")
    update_partij = importlib.import_module(f"{api}.partij.update_partijen")
    list_taken = importlib.import_module(f"{api}.taak.list_taken")
    with served_demo_gateway(tmp_path) as base:
        client = package.Client(base_url=f"{base}{KIC}", raise_on_unexpected_status=True)
        adres = create_adres.sync(
            client=client,
            body=models.DigitaalAdresInput.from_dict(
                {
                    "adres": "jan@example.org",
                    "omschrijving": "e-mail",
                    "soortDigitaalAdres": "emailadres",
                }
            ),
        )
        assert isinstance(adres, models.DigitaalAdres)
        identification = {
            "partijIdentificator": {
                "objectId": "999990019",
                "objecttype": "ingeschrevenpersoon",
                "soortObjectId": "bsn",
                "register": "https://brp.example",
            }
        }
        body = models.PartijInput.from_dict(
            {
                "nummer": 9001,
                "interneNotitie": "nieuw via de client",
                "indicatieGeheimhouding": False,
                "indicatieActief": True,
                "soortPartij": "persoon",
                "externeIdentificatie": [identification],
                "voorkeurskanaal": str(adres.id),
            }
        )
        partij = create_partij.sync(client=client, body=body)
        assert isinstance(partij, models.Partij) and str(partij.voorkeurskanaal) == str(adres.id)
        query = models.ListPartijenFilter.from_dict(
            {
                "externeIdentificatie.partijIdentificator.objectId": SEED_BSN,
                "externeIdentificatie.partijIdentificator.objecttype": "ingeschrevenpersoon",
            }
        )
        found = list_partijen.sync(client=client, filter_=query)
        assert isinstance(found, models.ListPartijenResponse200) and found.total == 1
        changed = update_partij.sync(
            client=client,
            id=partij.id,
            body=models.PartijPatch.from_dict({"interneNotitie": "gewijzigd"}),
        )
        assert isinstance(changed, models.Partij) and changed.interne_notitie == "gewijzigd"
        taken = list_taken.sync(client=client, limit=100)  # every demo Taak parses
        assert isinstance(taken, models.ListTakenResponse200)
        assert taken.total == len(taken.results) > 0


FLOW_TS = """
import type { components, paths } from "./kic";

type Body<P extends keyof paths, M extends "post" | "patch", T extends string> =
  NonNullable<paths[P][M]> extends { requestBody: { content: Record<T, infer B> } } ? B : never;

const adres: Body<"/digitaaladressen", "post", "application/json"> = {
  adres: "jan@example.org", omschrijving: "e-mail", soortDigitaalAdres: "emailadres",
};
const partij: Body<"/partijen", "post", "application/json"> = {
  nummer: 9001, interneNotitie: "nieuw", indicatieGeheimhouding: false, indicatieActief: true,
  externeIdentificatie: [{ partijIdentificator: {
    objectId: "999990019", objecttype: "ingeschrevenpersoon", soortObjectId: "bsn",
    register: "https://brp.example" } }],
  voorkeurskanaal: { adres: "jan@example.org", omschrijving: "e-mail", soortDigitaalAdres: "emailadres" },
};
const query: paths["/partijen"]["get"]["parameters"]["query"] = {
  filter: { "externeIdentificatie.partijIdentificator.objectId": "999993653" }, limit: 10,
};
const patch: Body<"/partijen/{id}", "patch", "application/merge-patch+json"> = {
  interneNotitie: "gewijzigd", voorkeurstaal: null,
};
// @ts-expect-error the gateway assigns the id
const withId: Body<"/partijen", "post", "application/json"> = { ...partij, id: "x" };
// @ts-expect-error interneNotitie is a string
const wrong: Body<"/partijen/{id}", "patch", "application/merge-patch+json"> = { interneNotitie: 5 };
const idOf = (answer: components["schemas"]["Partij"]): string => answer.id;
export { adres, partij, query, patch, withId, wrong, idOf };
"""


def test_openapi_typescript_types_model_the_flow(document_file: Path, tmp_path: Path) -> None:
    generator, compiler = npm_tool("openapi-typescript"), npm_tool("tsc")
    types = tmp_path / "kic.d.ts"
    generated = subprocess.run(
        [str(generator), str(document_file), "--output", str(types)],
        capture_output=True,
        text=True,
        timeout=GENERATOR_SECONDS,
        check=False,
    )
    assert generated.returncode == 0, generated.stderr[-2000:]
    (tmp_path / "flow.ts").write_text(FLOW_TS, encoding="utf-8")
    command = [str(compiler), "--noEmit", "--strict", "--target", "es2022", "--module", "esnext"]
    checked = subprocess.run(
        [*command, "--moduleResolution", "bundler", str(tmp_path / "flow.ts")],
        capture_output=True,
        text=True,
        timeout=GENERATOR_SECONDS,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout[-3000:]
