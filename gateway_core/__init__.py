"""gateway_core: schema files in, a validated CRUD API out."""

__version__ = "0.1.0"
