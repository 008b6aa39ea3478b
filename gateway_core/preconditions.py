"""ETags and conditional requests (RFC 9110 section 13; docs/governance.md).

An object's ETag is `"<version>-<digest>"`: the object's version, then a digest of the answer's
body, so that two representations of one version (`_fields`, `_extend`, related objects that
changed) never share a tag. `If-None-Match` compares whole tags (weakly: a `W/` is ignored) and
answers 304. `If-Match` compares the version part with the object's current version, inside the
write's serialised section, and answers 412 when it is stale; `*` asks only that the object exists.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from gateway_core.errors import BadRequest, InvalidParam, PreconditionFailed
from gateway_core.storage import StoredObject


def etag(version: int, body: bytes) -> str:
    return f'"{version}-{hashlib.blake2b(body, digest_size=6).hexdigest()}"'


def _tags(header: str) -> list[str]:
    return [part.strip().removeprefix("W/") for part in header.split(",") if part.strip()]


def not_modified(if_none_match: str | None, current: str) -> bool:
    if not if_none_match:
        return False
    tags = _tags(if_none_match)
    return "*" in tags or current in tags


_TAG = re.compile(r'"([0-9]+)-[^",]*"')


def _version(tag: str) -> int | None:
    """The version of an ETag as this API makes them (`"<version>-<digest>"`), else None."""
    found = _TAG.fullmatch(tag)
    return int(found.group(1)) if found else None


def if_match(header: str | None) -> Callable[[StoredObject], None] | None:
    """The check an `If-Match` header asks for, or None without one."""
    if header is None:
        return None
    tags = _tags(header)
    if "*" in tags:
        return lambda current: None  # the object exists: loading it already checked that
    versions = {_version(tag) for tag in tags}
    if not tags or None in versions:
        raise BadRequest(
            'The If-Match header must hold ETags as this API sends them ("<version>-...") or *.',
            invalid_params=[InvalidParam("If-Match", "format", "not an ETag of this API")],
        )

    def check(current: StoredObject) -> None:
        if current.version not in versions:
            raise PreconditionFailed(
                f"The object is at version {current.version}, not "
                f"{' or '.join(str(v) for v in sorted(v for v in versions if v is not None))}: "
                "it changed since you read it. Read it again, then retry; nothing was changed."
            )

    return check
