"""Live reload of the `--schemas` folders (docs/governance.md). watchfiles is imported here only.

A change to a `.json`/`.yaml` file in a watched folder (added, changed, removed) rebuilds the whole
schema set off the event loop; only when it loads without error is it swapped in, whole: the
endpoints, the OpenAPI document and the `/api` index follow together. A broken file is logged and
the previous set keeps serving. Stored objects are never deleted or changed by a reload; the
number that a changed schema would now refuse is logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from watchfiles import awatch

log = logging.getLogger("gateway.reload")

SCHEMA_SUFFIXES = (".json", ".yaml", ".yml")


def _schema_file(path: str) -> bool:
    return path.endswith(SCHEMA_SUFFIXES) and not Path(path).name.startswith(".")


async def watch(
    folders: Sequence[str],
    reload: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    debounce_ms: int = 300,
) -> None:
    """Call `reload` after every burst of changes to schema files in `folders`, until `stop`."""
    existing = [folder for folder in folders if Path(folder).exists()]
    if not existing:
        return
    async for changes in awatch(*existing, stop_event=stop, debounce=debounce_ms, step=50):
        if any(_schema_file(path) for _, path in changes):
            try:
                await reload()
            except Exception:  # a reload that fails must not end the watching
                log.exception("reloading the schema folders failed; the previous set still serves")
