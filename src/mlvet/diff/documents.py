"""Differences between JSON documents (with JSON pointers), chat templates and tokenizer vocabularies."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from mlvet.findings import Subject

MAX_CHANGES = 500
"""JSON changes listed per document; the count is always exact."""
MAX_VALUE_CHARS = 300
MAX_TEMPLATE_DIFF_LINES = 200
MAX_TOKENS_LISTED = 50
MAX_DEPTH = 100
"""JSON nested deeper than this is compared as a whole value."""


@dataclass(frozen=True)
class JsonChange:
    """One difference between two JSON documents at ``pointer`` (RFC 6901)."""

    pointer: str
    change: str
    """``added``, ``removed`` or ``changed``."""
    before: Any
    after: Any

    def to_dict(self) -> dict[str, Any]:
        return {
            "pointer": self.pointer,
            "change": self.change,
            "before": _short(self.before),
            "after": _short(self.after),
        }


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return value[:MAX_VALUE_CHARS] + f"... ({len(value)} characters)"
    if isinstance(value, dict | list):
        import json

        try:
            text = json.dumps(value, ensure_ascii=False)
        except RecursionError:
            return "<nested too deeply to show>"
        if len(text) > MAX_VALUE_CHARS:
            return text[:MAX_VALUE_CHARS] + f"... ({len(text)} characters)"
    return value


def pointer_escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def json_changes(
    before: Any, after: Any, pointer: str = "", *, skip: frozenset[str] = frozenset()
) -> list[JsonChange]:
    """Every difference from ``before`` to ``after``; pointers in ``skip`` are not descended into."""
    found: list[JsonChange] = []
    _walk(before, after, pointer, skip, found)
    return found


def _walk(
    before: Any, after: Any, pointer: str, skip: frozenset[str], found: list[JsonChange], depth: int = 0
) -> None:
    if pointer in skip:
        return
    if depth > MAX_DEPTH:  # compared whole below this depth
        if before != after:
            found.append(JsonChange(pointer, "changed", before, after))
        return
    if isinstance(before, dict) and isinstance(after, dict):
        for key in before:
            child = f"{pointer}/{pointer_escape(str(key))}"
            if key not in after:
                found.append(JsonChange(child, "removed", before[key], None))
            else:
                _walk(before[key], after[key], child, skip, found, depth + 1)
        found.extend(
            JsonChange(f"{pointer}/{pointer_escape(str(key))}", "added", None, after[key])
            for key in after
            if key not in before
        )
        return
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for index, (left, right) in enumerate(zip(before, after, strict=True)):
            _walk(left, right, f"{pointer}/{index}", skip, found, depth + 1)
        return
    if before != after or type(before) is not type(after):
        found.append(JsonChange(pointer or "/", "changed", before, after))


def template_diff(before: str, after: str, name: str) -> list[str]:
    """A unified diff of two templates (bounded)."""
    lines = list(
        difflib.unified_diff(
            before.splitlines(),
            after.splitlines(),
            f"known-good/{name}",
            f"candidate/{name}",
            lineterm="",
            n=2,
        )
    )
    if len(lines) > MAX_TEMPLATE_DIFF_LINES:
        lines = [*lines[:MAX_TEMPLATE_DIFF_LINES], f"... ({len(lines) - MAX_TEMPLATE_DIFF_LINES} more lines)"]
    return lines


def template_constructs(source: str) -> set[str]:
    """Sandbox-escape gadgets and code-like constructs ``mlvet scan`` finds in a chat template."""
    from mlvet.config import Settings
    from mlvet.findings import Location
    from mlvet.scan.base import Collector, ScanContext

    collector = Collector()
    ctx = ScanContext(Subject("chat template"), Settings(), collector, lambda *_: None)
    from mlvet.scan.templates import analyse_template

    analyse_template(source, ctx, where="chat template", location=Location())
    constructs: set[str] = set()
    for finding in collector.findings:
        listed = finding.evidence.get("constructs")
        if isinstance(listed, list) and listed:
            constructs.update(f"{finding.rule.id}: {c}" for c in listed)
        else:
            constructs.add(f"{finding.rule.id}: {finding.rule.title}")
    return constructs


@dataclass(frozen=True)
class VocabularyChange:
    """Tokens added, removed or given another id."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    reassigned: tuple[tuple[str, int, int], ...]
    size_before: int
    size_after: int

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.reassigned)

    def to_dict(self) -> dict[str, Any]:
        return {
            "size": [self.size_before, self.size_after],
            "added": len(self.added),
            "removed": len(self.removed),
            "reassigned": len(self.reassigned),
            "added_tokens": list(self.added[:MAX_TOKENS_LISTED]),
            "removed_tokens": list(self.removed[:MAX_TOKENS_LISTED]),
            "reassigned_tokens": [
                {"token": t, "before": b, "after": a} for t, b, a in self.reassigned[:MAX_TOKENS_LISTED]
            ],
        }


def vocabulary_change(before: dict[str, int], after: dict[str, int]) -> VocabularyChange:
    added = tuple(sorted(set(after) - set(before), key=lambda t: after[t]))
    removed = tuple(sorted(set(before) - set(after), key=lambda t: before[t]))
    reassigned = tuple(
        sorted(
            ((t, before[t], after[t]) for t in set(before) & set(after) if before[t] != after[t]),
            key=lambda x: x[1],
        )
    )
    return VocabularyChange(added, removed, reassigned, len(before), len(after))


def vocabulary_of_list(tokens: list[str]) -> dict[str, int]:
    """A GGUF token list as token -> id (the first id wins for duplicates)."""
    vocab: dict[str, int] = {}
    for index, token in enumerate(tokens):
        vocab.setdefault(token, index)
    return vocab
