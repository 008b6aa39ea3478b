"""The extend action: the person behind a partij's BSN, from the BRP (Haal Centraal BRP Personen
API 2), embedded on `?_extend[]=externeIdentificatie.partijIdentificator` (docs/events.md).

It listens to `klant.object.extend`, which the partijen, klantcontacten and
betrokkenenbijklantcontact endpoints throw. It claims, on every objecttype that holds
identificators (`identificatorEntity`), the paths to them; the engine then accepts those paths in
`_extend` (also behind relations: `partij.externeIdentificatie.partijIdentificator` on a
betrokkene) and hands over the rendered objects. Each identificator of objecttype
`ingeschrevenpersoon` with a valid BSN is looked up, up to 20 BSNs per call:

    POST {brp location}/personen
    {"type": "RaadpleegMetBurgerservicenummer", "burgerservicenummer": [...], "fields": [...]}

and the person goes under `embedded`, at the identificator's place:
`embedded.externeIdentificatie[i].partijIdentificator`. Answers (found or not found) are cached
for `cacheSeconds`. When the BRP fails, is slow or answers garbage, the object is still answered:
the person is missing and `_extendErrors` on the object says why (path, source, status, detail).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

from gateway_core.actions import ActionServices
from gateway_core.errors import BadGateway, ProblemError
from gateway_core.events import Event
from gateway_core.schemas.formats import is_bsn

IDENTIFICATOR = "https://commongateway.nl/klant.identificator.schema.json"
DEFAULT_FIELDS = ("burgerservicenummer", "naam", "geboorte", "leeftijd", "adressering")
BATCH = 20  # the most BSNs one RaadpleegMetBurgerservicenummer request may hold
PERSON_TYPES = {"ingeschrevenpersoon", "ingeschrevenpersonen"}


def _locations(
    value: Any, parts: list[str], trail: tuple[Any, ...] = ()
) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(keys and list indexes from the object down, value) of everything at the dotted path."""
    if isinstance(value, list):
        for index, element in enumerate(value):
            yield from _locations(element, parts, (*trail, index))
    elif not parts:
        yield trail, value
    elif isinstance(value, dict) and parts[0] in value:
        yield from _locations(value[parts[0]], parts[1:], (*trail, parts[0]))


def _embed(document: dict[str, Any], trail: tuple[Any, ...], value: Any) -> None:
    """Put `value` under `embedded` at the same place, mirroring lists as rendering does."""
    node: Any = document.setdefault("embedded", {})
    source: Any = document
    for step, following in zip(trail, (*trail[1:], None), strict=True):
        source = source[step]
        if following is None:
            node[step] = value
            return
        if isinstance(step, int):
            child = node[step]
        elif isinstance(source, list):
            child = node.setdefault(step, [{} for _ in source])
        else:
            child = node.setdefault(step, {})
        node = child


class ExtendHandler:
    name: ClassVar[str] = "customer-interaction.extend"
    aliases: ClassVar[tuple[str, ...]] = (
        "CommonGateway\\CustomerInteractionBundle\\ActionHandler\\ExtendHandler",
    )
    extensions_only: ClassVar[bool] = True  # acts on `_extend` objects only

    def __init__(self, configuration: Mapping[str, Any], services: ActionServices) -> None:
        self.services = services
        self.identificator = str(configuration.get("identificatorEntity", IDENTIFICATOR))
        self.source = str(configuration.get("source", "brp"))
        self.fields = list(configuration.get("fields", DEFAULT_FIELDS))
        self.cache_seconds = float(configuration.get("cacheSeconds", 60))
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._claims = {
            schema_id: frozenset(
                path
                for path, info in services.paths(schema_id).items()
                if info.value_schema == self.identificator
            )
            for schema_id in services.types
        }

    def claims(self) -> Mapping[str, frozenset[str]]:
        return {schema_id: paths for schema_id, paths in self._claims.items() if paths}

    async def run(self, event: Event) -> None:
        wanted: list[tuple[dict[str, Any], str, tuple[Any, ...], str]] = []
        for extension in event.extensions:
            for document in extension.documents:
                for trail, identificator in _locations(document, extension.suffix.split(".")):
                    if not isinstance(identificator, dict):
                        continue
                    if str(identificator.get("objecttype", "")).lower() not in PERSON_TYPES:
                        continue
                    path = ".".join(str(step) for step in trail)
                    bsn = str(identificator.get("objectId", ""))
                    if not is_bsn(bsn):
                        _report(document, path, self.source, 400, f"{bsn!r} is not a BSN")
                        continue
                    wanted.append((document, path, trail, bsn))
        if not wanted:
            return
        try:
            persons = await self.lookup(sorted({bsn for _, _, _, bsn in wanted}))
        except ProblemError as problem:
            for document, path, _, _ in wanted:
                _report(document, path, self.source, problem.status, problem.detail)
            return
        for document, path, trail, bsn in wanted:
            person = persons.get(bsn)
            if person is None:
                _report(document, path, self.source, 404, f"the BRP has no person with BSN {bsn}")
            else:
                _embed(document, trail, person)

    async def lookup(self, bsns: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        """Persons by BSN (None: the BRP has none), from the cache or the BRP."""
        now = time.monotonic()
        found = {
            bsn: entry[1]
            for bsn in bsns
            if (entry := self._cache.get(bsn)) is not None and entry[0] > now
        }
        missing = [bsn for bsn in bsns if bsn not in found]
        batches = [missing[start : start + BATCH] for start in range(0, len(missing), BATCH)]
        for answer in await asyncio.gather(*(self._ask(batch) for batch in batches)):
            found.update(answer)
        expires = time.monotonic() + self.cache_seconds
        for bsn in missing:
            self._cache[bsn] = (expires, found.get(bsn))
        return found

    async def _ask(self, bsns: list[str]) -> dict[str, dict[str, Any] | None]:
        response = await self.services.sources.request(
            self.source,
            "POST",
            "personen",
            body={
                "type": "RaadpleegMetBurgerservicenummer",
                "burgerservicenummer": bsns,
                "fields": self.fields,
            },
        )
        if response.status != 200:
            raise BadGateway(f"Source {self.source!r} answered {response.status}.")
        document = response.json()
        personen = document.get("personen") if isinstance(document, dict) else None
        if not isinstance(personen, list) or not all(isinstance(p, dict) for p in personen):
            raise BadGateway(f"Source {self.source!r} answered without a list of personen.")
        by_bsn: dict[str, dict[str, Any] | None] = dict.fromkeys(bsns)
        for person in personen:
            bsn = person.get("burgerservicenummer")
            if bsn in by_bsn:
                by_bsn[bsn] = person
        return by_bsn


def _report(document: dict[str, Any], path: str, source: str, status: int, detail: str) -> None:
    document.setdefault("_extendErrors", []).append(
        {"path": path, "source": source, "status": status, "detail": detail}
    )
