"""Schema files: loading, dialect translation, the registry by $id, validation and paths."""
