"""JSON diffs with pointers, vocabulary changes and chat-template constructs."""

from __future__ import annotations

from mlvet.diff.documents import json_changes, template_constructs, template_diff, vocabulary_change
from tests.unit.diff.builders import EVIL_TEMPLATE, TEMPLATE


def test_json_changes_carry_rfc6901_pointers() -> None:
    before = {"a": {"b/c": 1, "d~e": [1, 2]}, "gone": True}
    after = {"a": {"b/c": 2, "d~e": [1, 3]}, "new": None}
    found = {(c.pointer, c.change) for c in json_changes(before, after)}
    assert found == {
        ("/a/b~1c", "changed"),
        ("/a/d~0e/1", "changed"),
        ("/gone", "removed"),
        ("/new", "added"),
    }


def test_skipped_pointers_are_not_descended() -> None:
    assert (
        json_changes(
            {"model": {"vocab": {"a": 1}}}, {"model": {"vocab": {"a": 2}}}, skip=frozenset({"/model/vocab"})
        )
        == []
    )


def test_list_length_change_is_one_change() -> None:
    (change,) = json_changes({"x": [1, 2]}, {"x": [1, 2, 3]})
    assert (change.pointer, change.before, change.after) == ("/x", [1, 2], [1, 2, 3])


def test_vocabulary_added_removed_and_reassigned() -> None:
    change = vocabulary_change({"a": 0, "b": 1, "c": 2}, {"a": 0, "b": 2, "d": 3})
    assert (change.added, change.removed, change.reassigned) == (("d",), ("c",), (("b", 1, 2),))
    assert change.to_dict()["size"] == [3, 3]


def test_template_constructs_come_from_the_scan_analysis() -> None:
    assert template_constructs(TEMPLATE) == set()
    gained = template_constructs(EVIL_TEMPLATE)
    assert any("__globals__" in c for c in gained)
    diff = template_diff(TEMPLATE, EVIL_TEMPLATE, "default")
    assert diff[0].startswith("--- known-good/default") and any(line.startswith("+") for line in diff[2:])
