"""A tiny second plugin (a library lending books) proving the engine holds nothing klantinteractie-specific."""

from __future__ import annotations

from pathlib import Path

from gateway_core.plugins import Plugin

HERE = Path(__file__).resolve().parent


def plugin() -> Plugin:
    return Plugin(
        name="library",
        title="Library API",
        schema_dirs=(HERE / "schemas",),
        manifest=HERE / "installation.json",
        fixtures=HERE / "fixtures",
    )
