"""Names in the document: component references, component names and operation ids."""

from __future__ import annotations

import re
from collections.abc import Iterable

from gateway_core.schemas.registry import ObjectType

COMPONENT_SCHEMAS = "#/components/schemas/"
COMPONENT_RESPONSES = "#/components/responses/"
COMPONENT_HEADERS = "#/components/headers/"


def pascal(text: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", text) or ["Object"]
    return "".join(word[:1].upper() + word[1:] for word in words)


def camel(text: str) -> str:
    name = pascal(text)
    return name[:1].lower() + name[1:]


def component_names(
    types: Iterable[ObjectType], suffixes: Iterable[str], reserved: Iterable[str] = ()
) -> dict[str, str]:
    """A PascalCase component name per objecttype `$id`, from its title, such that the name with
    any of `suffixes` (the variants: `Input`, `Patch`, ...) names no other component."""
    variants = tuple(suffixes)
    names: dict[str, str] = {}
    taken: set[str] = set(reserved)
    for object_type in sorted(types, key=lambda t: t.id):
        base = pascal(object_type.title)
        name, number = base, 2
        while any(name + suffix in taken for suffix in variants):
            name, number = f"{base}{number}", number + 1
        taken.update(name + suffix for suffix in variants)
        names[object_type.id] = name
    return names
