"""The changed paths of an audit entry (gateway_core/audit.py); the trail over HTTP is in
test_governance.py."""

from __future__ import annotations

from gateway_core.audit import changed_paths


def pairs(old: object, new: object) -> dict[str, tuple[object, object]]:
    return {c["path"]: (c["old"], c["new"]) for c in changed_paths(old, new)}


def test_only_the_changed_paths_are_named_with_old_and_new_values() -> None:
    old = {"name": "A", "address": {"city": "Delft", "street": "X"}, "tags": ["a"]}
    new = {"name": "A", "address": {"city": "Gouda", "street": "X"}, "tags": ["a", "b"], "n": 1}
    assert pairs(old, new) == {
        "address.city": ("Delft", "Gouda"),
        "tags": (["a"], ["a", "b"]),
        "n": (None, 1),
    }
    assert pairs(new, new) == {}


def test_a_value_of_another_json_type_is_a_change_also_inside_value_objects() -> None:
    old = {"flags": {"active": 1, "size": 12}}
    new = {"flags": {"active": True, "size": 12.0}}
    assert pairs(old, new) == {"flags.active": (1, True), "flags.size": (12, 12.0)}


def test_members_in_another_order_are_no_change() -> None:
    assert pairs({"a": {"x": 1, "y": 2}}, {"a": {"y": 2, "x": 1}}) == {}


def test_removed_value_objects_name_their_paths() -> None:
    assert pairs({"a": {"x": 1}}, {}) == {"a.x": (1, None)}
