"""The fuzzing gate: schemathesis generates requests from the gateway's own OpenAPI document for
every operation of the customer-interaction API (with its demo data) and checks that no answer is
a 5xx and that every answer conforms to the document (status code, content type, headers, body).

Bounded and reproducible: a fixed number of examples per operation, derandomized generation, no
shrinking database. Found problems are fixed at their root with a regression test in the module
the fix lives in (see docs/openapi.md, "What the fuzzer found").
"""

from __future__ import annotations

import functools
import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from gateway_core.app import api_description, load_gateway
from gateway_core.config import Settings
from gateway_core.schemas.formats import is_bsn

# Per operation, positive and negative; FUZZ_EXAMPLES=500 searches deeper (docs/openapi.md).
EXAMPLES = {
    GenerationMode.POSITIVE: int(os.environ.get("FUZZ_EXAMPLES", "10")),
    GenerationMode.NEGATIVE: int(os.environ.get("FUZZ_EXAMPLES", "4")),
}
SERVER = "/api/kic/v1"  # the document's server URL: its paths are relative to it
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def existing_ids(demo_client: TestClient) -> dict[str, list[str]]:
    """The demo objects' ids per collection path, so item operations reach real objects too."""
    ids: dict[str, list[str]] = {}
    for path in {path for _, path in _documented_operations() if path.endswith("/{id}")}:
        listed = demo_client.get(
            SERVER + path.removesuffix("/{id}"), params={"_limit": 1000, "_fields": "id"}
        )
        ids[path] = [item["id"] for item in listed.json()["results"]]
    return ids


@pytest.fixture(scope="module")
def api_schema(demo_client: TestClient) -> Any:
    # The document's `bsn` format: nine digits that pass the eleven-test (else the fuzzer would
    # only ever send invalid ones).
    schemathesis.openapi.format("bsn", st.from_regex(r"\A[0-9]{9}\Z").filter(is_bsn))
    # Loaded from the client's answer: schemathesis' own ASGI loader would run the app's lifespan,
    # and so close the store.
    return schemathesis.openapi.from_dict(demo_client.get("/api/openapi.json").json())


@functools.cache
def _documented_operations() -> list[tuple[str, str]]:
    """(method, path) of every operation, from the document of the configuration under test (it
    does not depend on the stored data, so it is known when tests are collected)."""
    config = Settings(plugins=("customer-interaction",))
    document = api_description(config, load_gateway(config))
    methods = {"get", "put", "post", "delete", "patch"}
    return [(m, path) for path, item in document["paths"].items() for m in item if m in methods]


# Operations left out of the negative run, and why (the positive run covers them all).
NOT_NEGATED: dict[tuple[str, str], str] = {}


def _fuzz_runs() -> list[Any]:
    runs = []
    for method, path in _documented_operations():
        runs.append(pytest.param(method, path, GenerationMode.POSITIVE, id=f"{method} {path} +"))
        if (method, path) not in NOT_NEGATED:
            runs.append(
                pytest.param(method, path, GenerationMode.NEGATIVE, id=f"{method} {path} -")
            )
    return runs


@pytest.mark.parametrize(("method", "path", "mode"), _fuzz_runs())
def test_fuzzed_requests_get_documented_answers(
    api_schema: Any,
    demo_client: TestClient,
    existing_ids: dict[str, list[str]],
    method: str,
    path: str,
    mode: GenerationMode,
) -> None:
    """Positive: requests the document allows; negative: requests it forbids (wrong types,
    missing required properties, values out of range), which must get a documented 4xx."""
    operation = api_schema[path][method]
    known = existing_ids.get(path, [])
    # Half of the item requests name an existing object; the other half keep the generated id.
    pick = st.sampled_from(known) | st.none() if known else st.none()

    @given(case=operation.as_strategy(mode), existing=pick)
    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Any, existing: str | None) -> None:
        if existing is not None:
            case.path_parameters["id"] = existing
        request = case.as_transport_kwargs(base_url=f"http://testserver{SERVER}")
        request.pop("cookies", None)  # none are used; passing them per request is deprecated
        if isinstance(request.get("data"), (bytes, str)):  # a raw (negative-mode) body
            request["content"] = request.pop("data")
        response = demo_client.request(**request)
        case.validate_response(response, checks=CHECKS)

    fuzz()


def test_the_fuzzer_reads_every_operation(api_schema: Any) -> None:
    """A document part the fuzzer cannot read would silently test nothing."""
    operations = {(r.ok().method, r.ok().path) for r in api_schema.get_all_operations()}
    assert operations == set(_documented_operations())
    assert ("delete", "/partijen/{id}") in operations
