"""Authentication, scopes, owners, CORS and safe defaults (docs/security.md), on the
customer-interaction plugin with its demo data."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import jwt
import pytest
from customer_interaction import plugin
from starlette.testclient import TestClient

from gateway_core.app import create_app, load_gateway
from gateway_core.cli import check_exposure, main
from gateway_core.config import Settings, load_settings
from gateway_core.errors import ConfigError
from gateway_core.manifest import read_manifest
from gateway_core.sections import read_auth, read_cors

KIC = "/api/kic/v1"
ID = "https://commongateway.nl/klant.{}.schema.json"
PARTIJ = ID.format("partij")
ADRES = ID.format("digitaalAdres")
KISS_KEY = "kiss-7f3a9c1e5b2d4f6a8c0e1b3d5f7a9c1e"
OTHER_KEY = "other-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
PARTIJ_KEY = "partij-5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"
PORTAAL_SECRET = "portaal-secret-that-is-at-least-32-bytes-long"

AUTH = {
    "anonymous": [f"schemas.{ADRES}.GET"],
    "clients": [
        {"id": "kiss", "api_key": KISS_KEY, "scopes": ["schemas.*.*"]},
        {"id": "portaal", "secret": PORTAAL_SECRET, "scopes": ["schemas.*.*"]},
        {
            "id": "other",
            "api_key_sha256": hashlib.sha256(OTHER_KEY.encode()).hexdigest(),
            "scopes": ["schemas.https://example.org/nothing.schema.json.*", "admin.GET"],
        },
        {
            "id": "partij-only",
            "api_key": PARTIJ_KEY,
            "scopes": [
                f"schemas.{PARTIJ}.GET",
                f"schemas.{PARTIJ}.POST",
                f"schemas.{PARTIJ}.PATCH",
            ],
        },
    ],
}
CORS = {"allow_origins": ["https://portaal.example.nl"]}


def partij_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "nummer": 424242,
        "interneNotitie": "security test",
        "soortPartij": "persoon",
        "indicatieActief": True,
        "indicatieGeheimhouding": False,
        "externeIdentificatie": [
            {
                "partijIdentificator": {
                    "objecttype": "ingeschrevenpersoon",
                    "soortObjectId": "bsn",
                    "objectId": "111222333",
                    "register": "https://brp.basisregistraties.overheid.nl",
                }
            }
        ],
    }
    return {**body, **changes}


def token(client_id: str = "portaal", secret: str = PORTAAL_SECRET, **claims: Any) -> str:
    payload = {"client_id": client_id, "iat": int(time.time()), **claims}
    return jwt.encode(payload, secret, algorithm=claims.pop("alg", "HS256"))


def unsigned_token(client_id: str = "portaal") -> str:
    """A JWT with `alg: none` (no signature), as an attacker would send it."""
    return jwt.encode({"client_id": client_id, "iat": int(time.time())}, None, algorithm="none")


def secured(database: str) -> Settings:
    return Settings(
        database=database,
        plugins=("customer-interaction",),
        auth=read_auth(AUTH, "test"),
        cors=read_cors(CORS, "test"),
    )


def install_demo(database: str) -> None:
    command = ["install", "customer-interaction", "--data", "--database", database]
    assert main([*command, "--plugin", "customer-interaction"]) == 0


@pytest.fixture(scope="module")
def client(module_databases: Any) -> Iterator[TestClient]:
    database = module_databases()
    install_demo(database)
    settings = secured(database)
    with TestClient(create_app(settings, load_gateway(settings))) as test_client:
        yield test_client


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def key(value: str) -> dict[str, str]:
    return {"Authorization": f"Token {value}"}


CREDENTIALS: dict[str, dict[str, str]] = {
    "none": {},
    "wrong key": key("not-a-key-of-any-client"),
    "wrong signature": bearer(token(secret="another-secret-of-at-least-32-bytes!")),
    "alg none": bearer(unsigned_token()),
    "expired": bearer(token(exp=int(time.time()) - 3600)),
    "unknown client": bearer(token(client_id="stranger", secret=PORTAAL_SECRET)),
    "without scope": key(OTHER_KEY),
    "api key with scope": key(KISS_KEY),
    "jwt with scope": bearer(token(exp=int(time.time()) + 3600)),
}
REFUSED_CREDENTIALS = {"wrong key", "wrong signature", "alg none", "expired", "unknown client"}


def endpoint_matrix() -> list[tuple[str, str, str]]:
    manifest = read_manifest(plugin().manifest or Path(), "customer-interaction")
    cases = []
    for spec in manifest.endpoints:
        for method in spec.methods:
            for target in ("collection", "item") if method == "GET" else ():
                cases.append((spec.path, spec.reference, f"{method} {target}"))
            if method == "POST":
                cases.append((spec.path, spec.reference, "POST collection"))
            if method in ("PUT", "PATCH", "DELETE"):
                cases.append((spec.path, spec.reference, f"{method} item"))
    return cases


MATRIX = endpoint_matrix()


def test_the_matrix_covers_every_endpoint_and_method() -> None:
    assert len({path for path, _, _ in MATRIX}) == 13
    assert {operation.split()[0] for _, _, operation in MATRIX} == {
        "GET",
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
    }


@pytest.mark.parametrize("credential", sorted(CREDENTIALS))
@pytest.mark.parametrize(("path", "schema_id", "operation"), MATRIX)
def test_scope_matrix(
    client: TestClient, path: str, schema_id: str, operation: str, credential: str
) -> None:
    method, target = operation.split()
    existing = client.get(f"{KIC}/{path}", params={"_limit": 1}, headers=key(KISS_KEY)).json()
    object_id = existing["results"][0]["id"]
    url = f"{KIC}/{path}" if target == "collection" else f"{KIC}/{path}/{object_id}"
    body = {} if method in ("POST", "PUT", "PATCH") else None
    response = client.request(method, url, json=body, headers=CREDENTIALS[credential])
    needed = f"schemas.{schema_id}.{method}"
    if credential == "none" and not (schema_id == ADRES and method == "GET"):
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].startswith("Token")
        assert needed in response.json()["detail"]
    elif credential in REFUSED_CREDENTIALS:
        assert response.status_code == 401, response.text
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
        assert response.headers["content-type"] == "application/problem+json"
    elif credential == "without scope":
        assert response.status_code == 403, response.text
        assert response.json()["scope"] == needed
        assert needed in response.json()["detail"]
    elif method == "GET":
        assert response.status_code == 200, response.text
    else:  # authorized: whatever the body's merits, never refused for lack of rights
        assert response.status_code not in (401, 403), response.text
        assert response.status_code < 500, response.text


def test_a_scope_for_one_method_grants_only_that_method(client: TestClient) -> None:
    assert client.get(f"{KIC}/partijen", headers=key(PARTIJ_KEY)).status_code == 200
    partij = client.get(f"{KIC}/partijen", headers=key(PARTIJ_KEY)).json()["results"][0]
    refused = client.delete(f"{KIC}/partijen/{partij['id']}", headers=key(PARTIJ_KEY))
    assert refused.status_code == 403
    assert refused.json()["scope"] == f"schemas.{PARTIJ}.DELETE"
    assert client.get(f"{KIC}/partijen/{partij['id']}", headers=key(KISS_KEY)).status_code == 200


def test_clock_skew_of_a_few_seconds_is_allowed(client: TestClient) -> None:
    just_expired = token(exp=int(time.time()) - 2)
    assert client.get(f"{KIC}/partijen", headers=bearer(just_expired)).status_code == 200
    issued_soon = token(iat=int(time.time()) + 2, nbf=int(time.time()) + 2)
    assert client.get(f"{KIC}/partijen", headers=bearer(issued_soon)).status_code == 200
    long_expired = token(exp=int(time.time()) - 60)
    assert client.get(f"{KIC}/partijen", headers=bearer(long_expired)).status_code == 401


def test_iss_names_the_client_as_well(client: TestClient) -> None:
    by_issuer = jwt.encode({"iss": "portaal", "iat": int(time.time())}, PORTAAL_SECRET, "HS256")
    assert client.get(f"{KIC}/partijen", headers=bearer(by_issuer)).status_code == 200


def test_a_client_without_a_secret_cannot_use_jwts(client: TestClient) -> None:
    forged = token(client_id="kiss", secret=KISS_KEY)  # kiss has an API key, no JWT secret
    assert client.get(f"{KIC}/partijen", headers=bearer(forged)).status_code == 401


def test_other_algorithms_are_refused(client: TestClient) -> None:
    other = jwt.encode({"client_id": "portaal"}, PORTAAL_SECRET * 2, algorithm="HS512")
    response = client.get(f"{KIC}/partijen", headers=bearer(other))
    assert response.status_code == 401
    assert "algorithm" in response.json()["detail"]


@pytest.mark.parametrize(
    "header", ["Basic a2lzczprZXk=", "Token", "Bearer ", "Bearer not.a.jwt", "Token " + "x" * 5000]
)
def test_malformed_credentials_are_401(client: TestClient, header: str) -> None:
    response = client.get(f"{KIC}/partijen", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_open_routes_need_no_credentials(client: TestClient) -> None:
    for path in ("/health", "/api/openapi.json", "/api/openapi.yaml", "/api/docs"):
        assert client.get(path).status_code == 200, path


def test_the_index_lists_what_the_caller_may_read(client: TestClient) -> None:
    def listed(headers: dict[str, str]) -> set[str]:
        response = client.get("/api", headers=headers)
        assert response.status_code == 200
        return {entry["$id"] for entry in response.json()["objecttypes"]}

    assert listed({}) == {ADRES}
    assert listed(key(PARTIJ_KEY)) == {PARTIJ}
    assert listed(key(OTHER_KEY)) == set()
    assert {PARTIJ, ADRES, ID.format("klantcontact")} <= listed(key(KISS_KEY))
    assert client.get("/api", headers=key("wrong")).status_code == 401


# -- nothing unreadable reaches a caller by another route ---------------------------------------


@pytest.fixture(scope="module")
def partij_with_adres(client: TestClient) -> dict[str, Any]:
    adres = client.post(
        f"{KIC}/digitaaladressen",
        json={
            "adres": "geheim@example.nl",
            "soortDigitaalAdres": "emailadres",
            "omschrijving": "x",
        },
        headers=key(KISS_KEY),
    ).json()
    created = client.post(
        f"{KIC}/partijen",
        json=partij_body(verstrekteAdressen=[adres["id"]]),
        headers=key(KISS_KEY),
    )
    assert created.status_code == 201, created.text
    document: dict[str, Any] = created.json()
    assert document["embedded"]["verstrekteAdressen"][0]["adres"] == "geheim@example.nl"
    return document


def test_embedded_objects_of_unreadable_types_are_left_out(
    client: TestClient, partij_with_adres: dict[str, Any]
) -> None:
    url = f"{KIC}/partijen/{partij_with_adres['id']}"
    seen = client.get(url, headers=key(PARTIJ_KEY)).json()
    assert seen["verstrekteAdressen"] == partij_with_adres["verstrekteAdressen"]  # the reference
    assert "verstrekteAdressen" not in seen.get("embedded", {})  # not its content
    assert "geheim@example.nl" not in client.get(url, headers=key(PARTIJ_KEY)).text
    projected = client.get(
        url, params={"_fields": "embedded,verstrekteAdressen"}, headers=key(PARTIJ_KEY)
    )
    assert "geheim@example.nl" not in projected.text
    listed = client.get(f"{KIC}/partijen", params={"_limit": 1000}, headers=key(PARTIJ_KEY))
    assert "geheim@example.nl" not in listed.text


def test_extend_into_an_unreadable_type_is_403(
    client: TestClient, partij_with_adres: dict[str, Any]
) -> None:
    url = f"{KIC}/partijen/{partij_with_adres['id']}"
    response = client.get(url, params={"_extend[]": "verstrekteAdressen"}, headers=key(PARTIJ_KEY))
    assert response.status_code == 403
    assert response.json()["scope"] == f"schemas.{ADRES}.GET"
    assert response.json()["invalidParams"][0]["name"] == "_extend"


def test_filters_across_a_relation_to_an_unreadable_type_are_403(
    client: TestClient, partij_with_adres: dict[str, Any]
) -> None:
    params = {"verstrekteAdressen.adres": "geheim@example.nl"}
    response = client.get(f"{KIC}/partijen", params=params, headers=key(PARTIJ_KEY))
    assert response.status_code == 403
    assert response.json()["invalidParams"][0]["name"] == "verstrekteAdressen.adres"
    allowed = client.get(f"{KIC}/partijen", params=params, headers=key(KISS_KEY)).json()
    assert [p["id"] for p in allowed["results"]] == [partij_with_adres["id"]]


def test_nested_writes_need_the_scope_of_the_nested_objecttype(client: TestClient) -> None:
    body = {
        "soortPartij": "persoon",
        "indicatieActief": True,
        "indicatieGeheimhouding": False,
        "verstrekteAdressen": [
            {"adres": "nieuw@example.nl", "soortDigitaalAdres": "emailadres", "omschrijving": "x"}
        ],
    }
    response = client.post(f"{KIC}/partijen", json=body, headers=key(PARTIJ_KEY))
    assert response.status_code == 403
    assert response.json()["scope"] == f"schemas.{ADRES}.POST"
    found = client.get(
        f"{KIC}/digitaaladressen", params={"adres": "nieuw@example.nl"}, headers=key(KISS_KEY)
    )
    assert found.json()["total"] == 0  # nothing half-written


# -- owner --------------------------------------------------------------------------------------


def test_objects_record_the_client_that_created_them(database: str) -> None:
    settings = Settings(
        database=database,
        plugins=("customer-interaction",),
        auth=read_auth({**AUTH, "anonymous": [f"schemas.{ADRES}.*"]}, "test"),
    )
    adres = {"adres": "a@example.nl", "soortDigitaalAdres": "emailadres", "omschrijving": "x"}
    with TestClient(create_app(settings, load_gateway(settings))) as client:
        by_kiss = client.post(f"{KIC}/digitaaladressen", json=adres, headers=key(KISS_KEY)).json()
        by_portaal = client.post(
            f"{KIC}/digitaaladressen", json=adres, headers=bearer(token())
        ).json()
        anonymous = client.post(f"{KIC}/digitaaladressen", json=adres).json()
        assert by_kiss["_self"]["owner"] == "kiss"
        assert by_portaal["_self"]["owner"] == "portaal"
        assert anonymous["_self"]["owner"] is None
        patched = client.patch(
            f"{KIC}/digitaaladressen/{by_kiss['id']}",
            json={"omschrijving": "y"},
            headers=bearer(token()),
        ).json()
        assert patched["_self"]["owner"] == "kiss"  # the creator, not the last writer

        def ids(params: dict[str, str]) -> set[str]:
            found = client.get(f"{KIC}/digitaaladressen", params=params, headers=key(KISS_KEY))
            assert found.status_code == 200, found.text
            return {item["id"] for item in found.json()["results"]}

        assert ids({"_self.owner": "KISS"}) == {by_kiss["id"]}
        assert ids({"_self.owner[exact]": "portaal"}) == {by_portaal["id"]}
        assert ids({"_self.owner": "IS NULL"}) == {anonymous["id"]}
        assert ids({"_self.owner[ne]": "kiss"}) == {by_portaal["id"], anonymous["id"]}
        assert ids({"_self.version[>=]": "2"}) == {by_kiss["id"]}


# -- CORS -----------------------------------------------------------------------------------------


def test_cors_for_a_configured_origin(client: TestClient) -> None:
    preflight = client.options(
        f"{KIC}/partijen",
        headers={
            "Origin": "https://portaal.example.nl",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://portaal.example.nl"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    answer = client.get(
        f"{KIC}/partijen", headers={"Origin": "https://portaal.example.nl", **key(KISS_KEY)}
    )
    assert answer.headers["access-control-allow-origin"] == "https://portaal.example.nl"
    assert "X-Total-Count" in answer.headers["access-control-expose-headers"]
    refused = client.get(
        f"{KIC}/partijen", headers={"Origin": "https://evil.example", **key(KISS_KEY)}
    )
    assert "access-control-allow-origin" not in refused.headers


def test_cors_refuses_the_preflight_of_another_origin(client: TestClient) -> None:
    preflight = client.options(
        f"{KIC}/partijen",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "DELETE"},
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers


# -- configuration and safe defaults --------------------------------------------------------------


def test_configuration_from_a_file_with_environment_variables(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "auth:\n"
        "  anonymous: []\n"
        "  clients:\n"
        "    - id: kiss\n"
        "      api_key: ${KISS_KEY}\n"
        '      scopes: ["schemas.*.GET"]\n'
        "cors:\n"
        "  allow_origins: [https://portaal.example.nl]\n",
        encoding="utf-8",
    )
    settings = load_settings(environ={"KISS_KEY": KISS_KEY}, config_file=str(config))
    assert settings.auth is not None
    assert settings.auth.clients[0].api_key_sha256 == hashlib.sha256(KISS_KEY.encode()).hexdigest()
    assert KISS_KEY not in repr(settings)
    with pytest.raises(ConfigError, match=r"\$\{KISS_KEY\}.*not set"):
        load_settings(environ={}, config_file=str(config))


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        ({"clients": [{"id": "a", "scopes": []}]}, r"auth.clients\[0\]: needs an api_key"),
        ({"clients": [{"id": "a", "api_key": "k", "scopes": ["schemas.x"]}]}, r"scopes\[0\]"),
        ({"clients": [{"id": "a", "api_key": "k", "scopes": ["schemas.*.FETCH"]}]}, "FETCH"),
        ({"anonymous": ["admin.GO"]}, r"auth.anonymous\[0\]"),
        ({"clients": [{"id": "a", "api_key_sha256": "abc"}]}, "64 hexadecimal"),
        ({"clients": [{"id": "a", "secret": "s", "algorithms": ["none"]}]}, "not supported"),
        ({"clients": [{"id": "a", "api_key": "k"}, {"id": "a", "api_key": "l"}]}, "used twice"),
        ({"client": []}, "unknown key"),
    ],
)
def test_bad_auth_configuration_names_the_place(auth: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read_auth(auth, "gateway.yaml")


def test_serving_without_auth_on_loopback_warns(capsys: pytest.CaptureFixture[str]) -> None:
    check_exposure(Settings(host="127.0.0.1"))
    assert "every client may read and change" in capsys.readouterr().err
    check_exposure(Settings(host="127.0.0.1", auth=read_auth(AUTH, "test")))
    assert capsys.readouterr().err == ""


def test_serving_without_auth_elsewhere_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = str(tmp_path / "db.json")
    code = main(
        ["serve", "--host", "0.0.0.0", "--database", database, "--plugin", "customer-interaction"]
    )
    assert code != 0
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert "refusing to serve on 0.0.0.0 without `auth`" in error
    assert not Path(database).exists()  # refused before anything was opened
    check_exposure(Settings(host="0.0.0.0", insecure=True))
    assert "WITHOUT authentication" in capsys.readouterr().err


def test_the_documented_configuration_works(tmp_path: Path) -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "security.md").read_text()
    block = docs.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "gateway.yaml").write_text(block, encoding="utf-8")
    environ = {"KISS_API_KEY": KISS_KEY, "PORTAAL_JWT_SECRET": PORTAAL_SECRET}
    settings = load_settings(environ=environ, config_file=str(tmp_path / "gateway.yaml"))
    assert settings.auth is not None
    assert [c.id for c in settings.auth.clients] == ["kiss", "portaal", "beheer"]
    settings = replace(settings, database=str(tmp_path / "db.json"))
    with TestClient(create_app(settings, load_gateway(settings))) as client:
        assert client.get(f"{KIC}/partijen", headers=key(KISS_KEY)).status_code == 200
        assert client.get(f"{KIC}/klantcontacten", headers=bearer(token())).status_code == 200
        assert client.get(f"{KIC}/partijen", headers=bearer(token())).status_code == 403
        assert client.get(f"{KIC}/digitaaladressen").status_code == 200
        assert client.get(f"{KIC}/partijen", headers=key("foo")).status_code == 200  # sha256("foo")
