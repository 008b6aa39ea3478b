"""JSON Web Tokens, signed and checked with PyJWT (imported here only): the bearer tokens clients
send (security.py) and the ones the gateway sends to sources (sources.py)."""

from __future__ import annotations

from typing import Any

import jwt


class TokenRefused(Exception):
    """Why a token does not hold, in words fit for an answer (never the token itself)."""


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims, unchecked: only to find out which client's secret to check with."""
    try:
        return jwt.get_unverified_header(token), jwt.decode(
            token, options={"verify_signature": False}
        )
    except jwt.InvalidTokenError:
        raise TokenRefused("The bearer token is not a JWT.") from None


def verify(token: str, secret: str, algorithms: tuple[str, ...], leeway: int) -> dict[str, Any]:
    """The claims of a token signed with `secret` by one of `algorithms`; `exp`, `nbf` and
    `iat` checked when present, with `leeway` seconds of clock skew."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=list(algorithms),
            leeway=leeway,
            options={"verify_aud": False},
        )
    except jwt.ExpiredSignatureError:
        raise TokenRefused("The bearer token has expired.") from None
    except jwt.ImmatureSignatureError:
        raise TokenRefused("The bearer token is not valid yet (nbf/iat in the future).") from None
    except jwt.InvalidTokenError:
        raise TokenRefused("The bearer token's signature or claims are not valid.") from None
    return claims


def sign(claims: dict[str, Any], secret: str) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")
