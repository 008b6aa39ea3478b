"""Reading and copying JSON documents (gateway_core/documents.py)."""

from __future__ import annotations

from typing import Any

from gateway_core.documents import copy_document, values_at


def test_values_at_crosses_arrays_and_drops_nulls() -> None:
    data = {"a": [{"b": 1}, {"b": [2, None]}, {"c": 3}], "d": None}
    assert values_at(data, "a.b") == [1, 2]
    assert values_at(data, "d") == []


def test_a_copied_document_shares_nothing_with_the_original() -> None:
    original: dict[str, Any] = {"a": [{"b": "x"}], "n": 1, "f": 1.5, "t": True, "z": None}
    copied = copy_document(original)
    assert copied == original
    copied["a"][0]["b"] = "changed"
    copied["a"].append(2)
    assert original == {"a": [{"b": "x"}], "n": 1, "f": 1.5, "t": True, "z": None}
    assert type(copied["t"]) is bool and type(copied["n"]) is int and type(copied["f"]) is float


def test_values_json_cannot_hold_are_copied_too() -> None:
    huge = 2**70  # beyond orjson's 64-bit integers
    original = {"huge": huge, "set": {1, 2}, "nested": {"k": [huge]}}
    copied = copy_document(original)
    assert copied == original
    assert copied["nested"] is not original["nested"]
