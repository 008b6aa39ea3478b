"""The customer-interaction plugin: the Klantinteractie, Taken and Berichten APIs (`/api/kic/v1`)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from gateway_core.plugins import Plugin

from .extend import ExtendHandler


def plugin() -> Plugin:
    package = Path(str(files("customer_interaction")))
    return Plugin(
        name="customer-interaction",
        title="Klantinteractie API (Partijen, Klantcontacten, Taken, Berichten)",
        schema_dirs=(Path(str(files("customer_interaction.schemas"))),),
        manifest=package / "installation.json",
        fixtures=package / "fixtures",
        description="A re-creation of Common Gateway's CustomerInteractionBundle.",
        action_handlers=(ExtendHandler,),
    )
