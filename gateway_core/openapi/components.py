"""The schema components of the document: per objecttype `T` (component names from the titles),

- `T`: the object as the API returns it: the storage schema (relations as UUIDs) plus the
  read-only `id`, `_self` and `embedded`. `id` and `_self` are required (always there); nothing
  else is, because `_fields` may leave it out.
- `TInput`: a POST/PUT body. A relation accepts the id or URL of an existing object, an existing
  one by id with changes (`...ById`) or a new nested one (`...New`), as linking.py does.
- `TPatch`: a PATCH body (RFC 7396): no property is required and `null` removes an optional
  one. A value object below it is merged into the stored one, which may be absent, so it is
  complete (`TMerge`: required properties required, `null` removes an optional one); an array
  replaces the stored one whole, so its elements are `TInput`.
- `TStored`, `TStoredMerge` (value objects with relations, under Common Gateway's `format:
  json`): stored as written, so a relation in it is a bare UUID.
- `TNew` and `TById` (objecttypes a relation points at): a new nested object, and an existing one
  named by `id`, changed with the other properties (merged, as a PATCH). Their own relations are
  described by reference only: the gateway accepts deeper nesting, but a finite model is what
  generators and fuzzers can use.
Read-only members (`id`, `_self`, `embedded` and the schema's own `readOnly` properties) are in no
request schema. Value objects (schemas without an endpoint) get the variants their holders use.

No `$ref` has siblings that change its meaning (generators ignore them): such a node becomes an
`allOf` of the reference, and a schema's `title` is its component name, so generated models get
unique names.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin

from gateway_core.openapi.names import COMPONENT_SCHEMAS
from gateway_core.query import arrays_of
from gateway_core.relations import RelationModel
from gateway_core.schemas.paths import RELATION_KEYWORD, PathInfo
from gateway_core.schemas.variants import nullable

OUTPUT, INPUT, PATCH, NEW, BY_ID = "", "Input", "Patch", "New", "ById"
MERGE, STORED, STORED_MERGE = "Merge", "Stored", "StoredMerge"
NEW_MERGED, BY_ID_MERGED = "NewMerged", "ByIdMerged"  # nested in a PATCH: its nulls are dropped
VARIANTS = (OUTPUT, INPUT, PATCH, NEW, BY_ID, MERGE, STORED, STORED_MERGE, NEW_MERGED, BY_ID_MERGED)
_PARTIAL = (PATCH, BY_ID, BY_ID_MERGED)  # nothing required
# merged into the stored object: `null` removes an optional property
_MERGED = (PATCH, BY_ID, MERGE, STORED_MERGE, NEW_MERGED, BY_ID_MERGED)
# the variant of an object below one of these
_NESTED = {PATCH: MERGE, BY_ID: NEW, NEW_MERGED: NEW, BY_ID_MERGED: NEW}
_ELEMENTS = {  # arrays are replaced whole, nulls and all
    PATCH: INPUT,
    BY_ID: NEW,
    MERGE: INPUT,
    STORED_MERGE: STORED,
    NEW_MERGED: NEW,
    BY_ID_MERGED: NEW,
}
# below CG's `format: json` everything is stored as written: a relation is a bare UUID
_STORED = {MERGE: STORED_MERGE, STORED_MERGE: STORED_MERGE}
_WITHOUT_RELATIONS = {STORED: INPUT, STORED_MERGE: MERGE}  # the same schema where none are in it
_FULL_RELATIONS = (INPUT, PATCH, MERGE)  # relations may nest new or changed objects
_TARGETS_ONLY = (NEW, BY_ID, NEW_MERGED, BY_ID_MERGED)
READ_ONLY_MEMBERS = ("id", "_self", "embedded")
# Keywords of Common Gateway's dialect, kept as OpenAPI extensions.
_EXTENSIONS = ("inversedBy", "cascadeDelete", "immutable", "maxDepth", "version")
_LITERAL_KEYS = ("enum", "const", "default", "examples", "example")
_DROPPED = ("$id", "$schema", "$comment", "title")
_REF_SIBLINGS_KEPT = ("description",)  # siblings a generator may ignore without harm
_UUID = "[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
_BSN = "^[0-9]{9}$"
_REFS = re.compile(r'"\$ref": "([^"]+)"')
UUID_STRING: dict[str, Any] = {"type": "string", "format": "uuid"}

AUDIT_ENTRY = "AuditEntry"
SHARED_SCHEMAS: dict[str, Any] = {
    AUDIT_ENTRY: {
        "title": AUDIT_ENTRY,
        "type": "object",
        "description": "one create, change or delete of an object (docs/governance.md)",
        "required": ["id", "when", "action", "client", "version", "request", "changes"],
        "properties": {
            "id": UUID_STRING,
            "when": {"type": "string", "format": "date-time"},
            "action": {
                "type": "string",
                "enum": ["create", "update", "partial_update", "delete"],
            },
            "client": {
                "type": ["string", "null"],
                "description": "the client that made the change; null: anonymous",
            },
            "version": {"type": "integer", "minimum": 1, "description": "the version it made"},
            "request": {"type": "string", "description": "the id of the request"},
            "changes": {
                "type": "array",
                "description": "every changed dotted path; an array or a value that changed "
                "kind is one path with its whole old and new value",
                "items": {
                    "type": "object",
                    "required": ["path", "old", "new"],
                    "properties": {"path": {"type": "string"}, "old": {}, "new": {}},
                },
            },
        },
    },
    "SelfMetadata": {
        "title": "SelfMetadata",
        "type": "object",
        "readOnly": True,
        "description": "metadata the gateway keeps for every object",
        "properties": {
            "id": UUID_STRING,
            "self": {"type": "string", "description": "the object's path"},
            "schema": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "ref": {"type": "string"},
                    "name": {"type": "string"},
                },
            },
            "dateCreated": {"type": "string", "format": "date-time"},
            "dateModified": {"type": "string", "format": "date-time"},
            "owner": {
                "type": ["string", "null"],
                "description": "the client that created the object; null: anonymous",
            },
            "version": {
                "type": "integer",
                "minimum": 1,
                "description": "1 when created, one more with every change (the ETag's first part)",
            },
        },
        "additionalProperties": False,
    },
    "Problem": {
        "title": "Problem",
        "type": "object",
        "description": "RFC 9457 problem details; `invalidParams` as the ZGW APIs have it",
        "required": ["type", "title", "status", "detail", "instance"],
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "invalidParams": {
                "type": "array",
                "items": {"$ref": f"{COMPONENT_SCHEMAS}InvalidParam"},
            },
        },
    },
    "InvalidParam": {
        "title": "InvalidParam",
        "type": "object",
        "description": "one invalid field or query parameter",
        "required": ["name", "code", "reason"],
        "properties": {
            "name": {"type": "string", "description": "dotted field or parameter name"},
            "code": {"type": "string", "description": "the failed rule (`required`, `enum`, ...)"},
            "reason": {"type": "string"},
        },
    },
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"{COMPONENT_SCHEMAS}{name}"}


def _without_meaningful_siblings(node: dict[str, Any]) -> dict[str, Any]:
    """A `$ref` node whose siblings would change its meaning, as an `allOf` of the reference."""
    if "$ref" not in node:
        return node
    siblings = {
        k: v for k, v in node.items() if k != "$ref" and not (k == "type" and v == "object")
    }
    if all(key in _REF_SIBLINGS_KEPT for key in siblings):
        return {"$ref": node["$ref"], **siblings}
    return {"allOf": [{"$ref": node["$ref"]}], **siblings}


class SchemaComponents:
    """Builds the components of every objecttype from the storage schemas and relation model."""

    def __init__(
        self,
        relations: RelationModel,
        names: Mapping[str, str],
        served: set[str],
        url_pattern: Callable[[str], str],
        paths: Mapping[str, Mapping[str, PathInfo]],
    ) -> None:
        self.relations = relations
        self.types = relations.schemas.types
        self.names = names
        self.served = served
        self.targets = {r.target for rs in relations.by_source.values() for r in rs}
        self.values = set(self.types) - served
        self.url_pattern = url_pattern
        self.paths = paths

    def ref(self, schema_id: str, variant: str = OUTPUT) -> dict[str, str]:
        return ref(self.names[schema_id] + variant)

    def all(self) -> dict[str, Any]:
        schemas: dict[str, Any] = {}
        for schema_id in sorted(self.types):
            for variant in VARIANTS:
                # only a relation's target is ever nested in a body (value objects: inside one)
                if variant == NEW and schema_id not in self.targets | self.values:
                    continue
                if variant in _TARGETS_ONLY and variant != NEW and schema_id not in self.targets:
                    continue
                if variant in _WITHOUT_RELATIONS and not self._holds_relations(schema_id):
                    continue
                if variant in (MERGE, STORED_MERGE) and schema_id in self.served:
                    continue  # served objecttypes are nested as relations, never merged
                schemas[self.names[schema_id] + variant] = self.component(schema_id, variant)
        return {**schemas, **SHARED_SCHEMAS}

    def component(self, schema_id: str, variant: str) -> dict[str, Any]:
        object_type = self.types[schema_id]
        schema = self.convert(copy.deepcopy(object_type.schema), schema_id, variant)
        if variant == OUTPUT and schema_id in self.served:
            self._add_output_members(schema, schema_id)
        if variant in (BY_ID, BY_ID_MERGED):
            return self._by_id(schema, schema_id, variant)
        if variant == NEW_MERGED:  # `"id": null` is dropped by the merge: a new object
            schema.setdefault("properties", {})["id"] = {"type": "null"}
        described = schema.get("description") or object_type.title
        return {"title": self.names[schema_id] + variant, **schema, "description": described}

    # -- conversion ----------------------------------------------------------------------------

    def convert(self, node: Any, base: str, variant: str) -> Any:
        """A storage-schema node as OpenAPI: `$ref`s to components of `variant`, CG keywords as
        `x-` extensions; relations as UUIDs (output) or as the accepted inputs."""
        if isinstance(node, list):
            return [self.convert(child, base, variant) for child in node]
        if not isinstance(node, dict):
            return node
        if RELATION_KEYWORD in node and variant in (STORED, STORED_MERGE):
            return {**UUID_STRING, **{k: node[k] for k in ("description",) if k in node}}
        if RELATION_KEYWORD in node and variant != OUTPUT:
            return self._relation_input(node, variant in _FULL_RELATIONS, variant in _MERGED)
        if node.get("format") == "json" and variant != OUTPUT:
            variant = _STORED.get(variant, STORED)
        converted: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROPPED or (key == "format" and value == "json"):
                continue
            if key == "$ref" and isinstance(value, str):
                converted[key] = self._ref_target(value, base, variant)
            elif key in _EXTENSIONS:
                converted[f"x-{key}"] = value
            elif key == "required":
                if variant not in (OUTPUT, *_PARTIAL):
                    writable = self._writable(node, base)
                    converted[key] = [name for name in value if name in writable]
            elif key in _LITERAL_KEYS:
                converted[key] = value
            elif key == "properties" and isinstance(value, dict):
                converted[key] = self._properties(value, node.get("required"), base, variant)
            elif key == "items":
                # a PATCH replaces an array whole: its elements are complete objects
                converted[key] = self.convert(value, base, _ELEMENTS.get(variant, variant))
            else:
                converted[key] = self.convert(value, base, variant)
        if node.get("format") == "bsn":
            converted["pattern"] = _BSN
        if converted.get("type") == "array" and "items" not in converted:
            converted["items"] = {}
        if "title" in node and "description" not in converted and isinstance(node["title"], str):
            converted["description"] = node["title"]
        if converted.get("required") == []:
            del converted["required"]
        return _without_meaningful_siblings(converted)

    def _holds_relations(self, schema_id: str) -> bool:
        """Whether relation markers are in the objecttype's schema or the schemas it refers to."""
        seen: set[str] = set()
        pending = [schema_id]
        while pending:
            current = pending.pop()
            if current in seen or current not in self.types:
                continue
            seen.add(current)
            text = json.dumps(self.types[current].schema)
            if f'"{RELATION_KEYWORD}"' in text:
                return True
            pending += [urljoin(current, r).partition("#")[0] for r in _REFS.findall(text)]
        return False

    def _writable(self, node: dict[str, Any], base: str) -> set[str]:
        properties = node.get("properties")
        if not isinstance(properties, dict):
            return set(node.get("required") or ())
        return {
            name for name, sub in properties.items() if self._writable_property(base, name, sub)
        }

    def _writable_property(self, base: str, name: str, node: Any) -> bool:
        """Not read-only (the gateway refuses those in a body) and not managed elsewhere."""
        read_only = isinstance(node, dict) and node.get("readOnly") is True
        return not read_only and not self._managed_elsewhere(base, name)

    def _managed_elsewhere(self, schema_id: str, name: str) -> bool:
        """The inverse side of a two-way link the other side must keep (its property is
        `required`): it only changes from that side, because the gateway refuses to take the
        link from an object that cannot lose it (a Klantcontact's `bijlagen`, whose Bijlagen
        require their `klantcontact`)."""
        relation = self.relations.at(schema_id, name)
        if relation is None or relation.inverse is None:
            return False
        required = self.types[relation.target].schema.get("required")
        return isinstance(required, list) and relation.inverse in required

    def _properties(
        self, properties: dict[str, Any], required: Any, base: str, variant: str
    ) -> dict[str, Any]:
        """In a PATCH only the top level is partial: a value object below it is merged into the
        stored one, which may be absent, so it is complete (`Merge`: required properties
        required, `null` removes an optional one); an array replaces the stored one whole, so its
        elements are `Input`. `null` never removes a required property."""
        mandatory = set(required) if isinstance(required, list) else set()
        result: dict[str, Any] = {}
        for name, sub in properties.items():
            if variant != OUTPUT and not self._writable_property(base, name, sub):
                continue
            converted = self.convert(sub, base, _NESTED.get(variant, variant))
            if variant == OUTPUT and self._managed_elsewhere(base, name):
                converted = {**converted, "readOnly": True}
            if variant in _MERGED and isinstance(converted, dict):
                # absent from a PATCH means unchanged, not the default
                converted = {k: v for k, v in converted.items() if k != "default"}
            removable = variant in _MERGED and name not in mandatory
            result[name] = nullable(converted) if removable else converted
        return result

    def _ref_target(self, reference: str, base: str, variant: str) -> str:
        absolute = urljoin(base, reference) if not reference.startswith("#") else base + reference
        document, _, fragment = absolute.partition("#")
        if document not in self.names:
            return reference
        pointer = fragment if fragment.startswith("/") else ""
        target = _NESTED.get(variant, variant)
        if target == NEW and document not in self.targets | self.values:
            target = INPUT
        if target in _WITHOUT_RELATIONS and not self._holds_relations(document):
            target = _WITHOUT_RELATIONS[target]
        return f"{COMPONENT_SCHEMAS}{self.names[document]}{target}{pointer}"

    def _relation_input(self, node: dict[str, Any], full: bool, merged: bool) -> dict[str, Any]:
        target = node[RELATION_KEYWORD]
        title = self.types[target].title
        choices: list[dict[str, Any]] = [
            {**UUID_STRING, "description": f"the id of an existing {title}"},
            {
                "type": "string",
                "pattern": self.url_pattern(target),
                "description": f"the URL (or path) of an existing {title}",
            },
        ]
        text = node.get("description") or node.get("title")
        described = f"{text.rstrip('.')}. " if isinstance(text, str) and text else ""
        accepted = f"The id or URL of an existing {title}"
        if full:
            # in a PATCH the object is merged into the stored UUID first: its nulls are dropped
            by_id, new = (BY_ID_MERGED, NEW_MERGED) if merged else (BY_ID, NEW)
            choices += [self.ref(target, by_id), self.ref(target, new)]
            accepted += (
                ", an existing one by `id` (changed with the other properties), or a new one "
                "(created with this object)"
            )
        return {
            "description": f"{described}{accepted}.",
            "anyOf": choices,
            RELATION_KEYWORD: target,
        }

    # -- read-only members and the by-id variant ------------------------------------------------

    def _add_output_members(self, schema: dict[str, Any], schema_id: str) -> None:
        members: dict[str, Any] = {
            "id": {**UUID_STRING, "readOnly": True},
            "_self": ref("SelfMetadata"),
            "embedded": self._embedded(schema_id),
        }
        if isinstance(schema.get("properties"), dict) or schema.get("type") == "object":
            schema.setdefault("properties", {}).update(members)
            schema["required"] = ["id", "_self"]
        else:
            extra = {"type": "object", "required": ["id", "_self"], "properties": members}
            schema["allOf"] = [*schema.get("allOf", []), extra]

    def _by_id(self, partial: dict[str, Any], schema_id: str, variant: str) -> dict[str, Any]:
        title = self.types[schema_id].title
        described = {
            "title": self.names[schema_id] + variant,
            "description": f"an existing {title}, named by `id`, changed with the other properties",
        }
        identity = {"id": {**UUID_STRING, "description": f"the id of the {title}"}}
        if isinstance(partial.get("properties"), dict) and "allOf" not in partial:
            properties = {**identity, **partial["properties"]}
            return {**partial, **described, "required": ["id"], "properties": properties}
        return {**described, "type": "object", "required": ["id"], "properties": identity}

    def _embedded(self, schema_id: str) -> dict[str, Any]:
        """The shape of `embedded`: the related objects at their relations' paths (mirroring the
        value objects and arrays on the way), each as its objecttype's output."""
        tree: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}
        paths = self.paths.get(schema_id, {})
        for relation in self.relations.of(schema_id):
            parts = relation.path.split(".")
            arrays = set(arrays_of(relation.path, paths))
            node = tree
            for index, part in enumerate(parts[:-1]):
                prefix = ".".join(parts[: index + 1])
                child = node["properties"].setdefault(
                    part, {"type": "object", "properties": {}, "additionalProperties": False}
                )
                if prefix in arrays:
                    holder = node["properties"][part] = (
                        child if child.get("type") == "array" else {"type": "array", "items": child}
                    )
                    child = holder["items"]
                node = child
            target = self.ref(relation.target)
            node["properties"][parts[-1]] = (
                {"type": "array", "items": target} if relation.many else target
            )
        tree["readOnly"] = True
        tree["description"] = (
            "the related objects (down to the objecttype's maxDepth, cycles cut; `extend` "
            "goes deeper); a relation's property itself holds the UUID(s)"
        )
        return tree


def url_pattern(routes: list[str]) -> str:
    """A URL (absolute, or a path) of an object served at one of `routes`."""
    alternatives = "|".join(re.escape(route) for route in routes)
    return f"^(?:[A-Za-z][A-Za-z0-9+.-]*://[^/]+)?(?:{alternatives})/{_UUID}/?$"
