"""Plugins: installable distributions announcing themselves in the `gateway.plugins` entry-point group.

An entry point names a callable returning a `Plugin`: where its schema files, manifest and
fixtures are, and the action handler classes it registers. Beside the manifest, as in a Common
Gateway bundle's Installation folder, `Action/`, `Source/` and `Mapping/` hold its actions,
sources and mappings. Loading a plugin imports its package; nothing else runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from gateway_core.errors import ConfigError

ENTRY_POINT_GROUP = "gateway.plugins"


@dataclass(frozen=True)
class Plugin:
    name: str
    title: str
    schema_dirs: tuple[Path, ...]
    manifest: Path | None = None
    fixtures: Path | None = None
    description: str = ""
    action_handlers: tuple[type[Any], ...] = ()  # ActionHandler classes (gateway_core.actions)

    def folder(self, kind: str) -> Path | None:
        """`Action`, `Source` or `Mapping`: the folder beside the manifest, when there is one."""
        if self.manifest is None:
            return None
        folder = self.manifest.parent / kind
        return folder if folder.is_dir() else None


def discover() -> list[Plugin]:
    found: list[Plugin] = []
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        factory: Callable[[], Plugin] = entry_point.load()
        plugin = factory()
        if not isinstance(plugin, Plugin):
            raise ConfigError(f"plugin entry point {entry_point.name!r} did not return a Plugin")
        found.append(plugin)
    return found


def select(available: Iterable[Plugin], names: Iterable[str] | None) -> list[Plugin]:
    """The plugins named (all when `names` is None); an unknown name is a configuration error."""
    plugins = list(available)
    if names is None:
        return plugins
    by_name = {plugin.name: plugin for plugin in plugins}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        known = ", ".join(sorted(by_name)) or "none"
        raise ConfigError(f"unknown plugin(s): {', '.join(unknown)} (installed: {known})")
    return [by_name[name] for name in names]
