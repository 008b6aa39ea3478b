"""Credentials -> principal: API keys (`Authorization: Token <key>`) and HS256 JWTs
(`Authorization: Bearer <jwt>`, ZGW style: the client's id in `client_id` or `iss`).

Tokens are checked by tokens.py (PyJWT). Keys are compared as SHA-256 digests in constant time, against every
configured client (the time taken does not tell which client came close). Nothing here logs a
credential; the answers to bad credentials say what was wrong with them, never what they held.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from gateway_core.context import Principal, restricted_principal, unrestricted_principal
from gateway_core.errors import Unauthorized
from gateway_core.sections import AuthConfig, ClientConfig
from gateway_core.tokens import TokenRefused, unverified, verify

REALM = 'realm="gateway"'
CHALLENGE = f"Token {REALM}, Bearer {REALM}"
_UNREADABLE_DIGEST = "0" * 64


@dataclass(frozen=True)
class _Client:
    config: ClientConfig
    principal: Principal


class Authenticator:
    """Reads the `Authorization` header. Without `auth` configured every caller is unrestricted."""

    def __init__(self, config: AuthConfig | None) -> None:
        self.config = config
        self.enabled = config is not None
        self._anonymous = (
            restricted_principal(None, config.anonymous) if config else unrestricted_principal()
        )
        self._clients = {
            client.id: _Client(client, restricted_principal(client.id, client.scopes))
            for client in (config.clients if config else ())
        }
        self._key_digests = [
            (client.api_key_sha256 or _UNREADABLE_DIGEST, client.id)
            for client in (config.clients if config else ())
        ]

    @property
    def anonymous(self) -> Principal:
        return self._anonymous

    def authenticate(self, authorization: str | None) -> Principal:
        """The principal of a request; raises Unauthorized for credentials that do not hold."""
        if not self.enabled or authorization is None:
            return self._anonymous
        scheme, _, credential = authorization.strip().partition(" ")
        credential = credential.strip()
        if not credential:
            raise _refused("The Authorization header holds no credential after its scheme.")
        if scheme.lower() == "token":
            return self._by_key(credential)
        if scheme.lower() == "bearer":
            return self._by_token(credential)
        raise _refused(
            f"The Authorization scheme {scheme[:20]!r} is not supported; use Token <key> or Bearer <jwt>."
        )

    def _by_key(self, key: str) -> Principal:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        found: str | None = None
        for candidate, client_id in self._key_digests:  # no early exit: constant in the match
            if hmac.compare_digest(candidate, digest) and candidate != _UNREADABLE_DIGEST:
                found = client_id
        if found is None:
            raise _refused("The API key is not valid.")
        return self._clients[found].principal

    def _by_token(self, token: str) -> Principal:
        assert self.config is not None
        try:
            header, claims = unverified(token)
        except TokenRefused as refused:
            raise _refused(str(refused)) from None
        client_id = claims.get("client_id") or claims.get("iss")
        client = self._clients.get(client_id) if isinstance(client_id, str) else None
        if client is None or client.config.secret is None:
            raise _refused("The bearer token names no client that may use JWTs (client_id or iss).")
        if header.get("alg") not in client.config.algorithms:
            allowed = ", ".join(client.config.algorithms)
            raise _refused(f"The bearer token's algorithm is not accepted (accepted: {allowed}).")
        try:
            verify(
                token, client.config.secret, client.config.algorithms, self.config.leeway_seconds
            )
        except TokenRefused as refused:
            raise _refused(str(refused)) from None
        return client.principal


def _refused(detail: str) -> Unauthorized:
    return Unauthorized(detail, f'{CHALLENGE}, error="invalid_token"')


def credentials_needed(detail: str) -> Unauthorized:
    return Unauthorized(detail, CHALLENGE)
