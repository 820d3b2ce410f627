"""Pair the parts of two sides and compare them: tensors, ONNX topology, documents, templates, files."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlvet.diff.documents import (
    JsonChange,
    VocabularyChange,
    json_changes,
    template_constructs,
    template_diff,
    vocabulary_change,
    vocabulary_of_list,
)
from mlvet.diff.sides import Side
from mlvet.diff.tensors import TensorDelta, TensorRef, Tolerance, compare_tensors, one_sided
from mlvet.diff.topology import TopologyChanges, compare_topology

Progress = Callable[[int, int], None]
"""Called with (tensors compared, tensors in all) as the comparison advances."""

SPECIAL_TOKEN_KEY = re.compile(
    r"^/(?:(?:bos|eos|pad|unk|sep|cls|mask)_token(?:/.*)?|additional_special_tokens(?:/.*)?|added_tokens_decoder/.*)$"
)
TOKEN_ID_KEY = re.compile(r"/[a-z_]*token_ids?(?:/\d+)?$")
GGUF_SPECIAL = re.compile(r"^/tokenizer\.ggml\.[a-z_]*(?:token_id|token_type)")
REMOTE_CODE_KEY = re.compile(r"^/(?:auto_map|trust_remote_code)(?:/.*)?$")
TOKENIZER_SKIP = frozenset({"/model/vocab", "/model/merges", "/added_tokens"})


@dataclass(frozen=True)
class TemplateChange:
    name: str
    status: str
    """``changed``, ``added`` or ``removed``."""
    diff: tuple[str, ...]
    new_constructs: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "diff": list(self.diff),
            "new_constructs": list(self.new_constructs),
        }


@dataclass
class DiffResult:
    """The structured diff of two sides, before it is judged into findings."""

    known_good: Side
    candidate: Side
    tolerance: Tolerance
    tensors: list[TensorDelta] = field(default_factory=list)
    topology: dict[str, TopologyChanges] = field(default_factory=dict)
    documents: dict[str, list[JsonChange]] = field(default_factory=dict)
    special_tokens: list[tuple[str, JsonChange]] = field(default_factory=list)
    remote_code: list[tuple[str, JsonChange]] = field(default_factory=list)
    templates: list[TemplateChange] = field(default_factory=list)
    vocabulary: VocabularyChange | None = None
    files_added: list[str] = field(default_factory=list)
    files_removed: list[str] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def compare_sides(
    known: Side, candidate: Side, tolerance: Tolerance, progress: Progress | None = None
) -> DiffResult:
    result = DiffResult(known, candidate, tolerance)
    result.problems.extend(f"known-good {p}" for p in known.problems)
    result.problems.extend(f"candidate {p}" for p in candidate.problems)
    _tensors(result, progress)
    _topology(result)
    _documents(result)
    _templates(result)
    _vocabulary(result)
    _files(result)
    return result


def _named(side: Side) -> dict[str, TensorRef]:
    named: dict[str, TensorRef] = {}
    for model in side.weights:
        for ref in model.tensors:
            key = ref.name if ref.name not in named else f"{model.path.name}:{ref.name}"
            named[key] = ref
    return named


def _tensors(result: DiffResult, progress: Progress | None) -> None:
    known, candidate = _named(result.known_good), _named(result.candidate)
    total = len(set(known) | set(candidate))
    done = 0
    order = 0
    for name, ref in candidate.items():
        partner = known.get(name)
        if partner is None:
            result.tensors.append(one_sided(ref, "added", order))
        else:
            try:
                result.tensors.append(compare_tensors(partner, ref, result.tolerance, order))
            except (OSError, ValueError) as exc:
                result.problems.append(f"tensor {name!r} could not be compared: {exc}")
        order += 1
        done += 1
        if progress is not None:
            progress(done, total)
    for name, ref in known.items():
        if name not in candidate:
            result.tensors.append(one_sided(ref, "removed", order))
            order += 1
            done += 1
            if progress is not None:
                progress(done, total)


def _topology(result: DiffResult) -> None:
    known, candidate = result.known_good.onnx_files, result.candidate.onnx_files
    if len(known) == 1 and len(candidate) == 1:
        pairs = [(next(iter(candidate)), next(iter(known.values())), next(iter(candidate.values())))]
    else:
        pairs = [(name, known[name], model) for name, model in candidate.items() if name in known]
    for name, k_model, c_model in pairs:
        assert k_model.onnx_model is not None and c_model.onnx_model is not None
        result.topology[name] = compare_topology(k_model.onnx_model, c_model.onnx_model)


def _documents(result: DiffResult) -> None:
    known, candidate = result.known_good, result.candidate
    roles = sorted(set(known.documents) | set(candidate.documents))
    for role in roles:
        before, after = known.documents.get(role), candidate.documents.get(role)
        skip = frozenset({"/chat_template"}) if role == "tokenizer_config.json" else frozenset()
        if role == "tokenizer.json":
            skip = TOKENIZER_SKIP
            _added_tokens(result, before, after)
        changes = json_changes(before, after, skip=skip) if before is not None and after is not None else []
        if before is None or after is None:
            changes = [JsonChange("/", "added" if before is None else "removed", before, after)]
        for change in changes:
            if _is_special(role, change.pointer):
                result.special_tokens.append((role, change))
            elif role == "config.json" and REMOTE_CODE_KEY.match(change.pointer) and change.after is not None:
                result.remote_code.append((role, change))
        if changes:
            result.documents[role] = changes
    metadata_known = _metadata(known)
    metadata_candidate = _metadata(candidate)
    if metadata_known != metadata_candidate:
        changes = json_changes(
            metadata_known, metadata_candidate, skip=frozenset({"/tokenizer.chat_template"})
        )
        changes = [c for c in changes if not c.pointer.startswith("/tokenizer.chat_template.")]
        for change in changes:
            if GGUF_SPECIAL.match(change.pointer):
                result.special_tokens.append(("metadata", change))
        if changes:
            result.documents["metadata"] = changes


def _metadata(side: Side) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for model in side.weights:
        merged.update(model.metadata)
    return merged


def _is_special(role: str, pointer: str) -> bool:
    if role == "special_tokens_map.json":
        return True
    if role == "tokenizer_config.json":
        return bool(SPECIAL_TOKEN_KEY.match(pointer))
    if role in ("config.json", "generation_config.json"):
        return bool(TOKEN_ID_KEY.search(pointer))
    return False


def _added_tokens(result: DiffResult, before: Any, after: Any) -> None:
    """tokenizer.json ``added_tokens``: special ones are special-token changes, others vocabulary."""

    def table(document: Any) -> dict[str, dict[str, Any]]:
        items = document.get("added_tokens") if isinstance(document, dict) else None
        if not isinstance(items, list):
            return {}
        return {str(t.get("content")): t for t in items if isinstance(t, dict)}

    known, candidate = table(before), table(after)
    for content in sorted(set(known) | set(candidate)):
        k, c = known.get(content), candidate.get(content)
        if k == c:
            continue
        pointer = f"/added_tokens[content={content!r}]"
        change = JsonChange(pointer, "added" if k is None else "removed" if c is None else "changed", k, c)
        if (k or {}).get("special") or (c or {}).get("special"):
            result.special_tokens.append(("tokenizer.json", change))
        else:
            result.documents.setdefault("tokenizer.json", []).append(change)


def _templates(result: DiffResult) -> None:
    known, candidate = result.known_good.templates, result.candidate.templates
    for name in sorted(set(known) | set(candidate)):
        before, after = known.get(name), candidate.get(name)
        if before == after:
            continue
        status = (
            "changed"
            if before is not None and after is not None
            else ("added" if before is None else "removed")
        )
        new_constructs: set[str] = set()
        if after is not None:
            new_constructs = template_constructs(after) - (template_constructs(before) if before else set())
        result.templates.append(
            TemplateChange(
                name,
                status,
                tuple(template_diff(before or "", after or "", name)),
                tuple(sorted(new_constructs)),
            )
        )


def _vocabulary(result: DiffResult) -> None:
    known, candidate = _vocab(result.known_good), _vocab(result.candidate)
    if known is None or candidate is None:
        return
    change = vocabulary_change(known, candidate)
    if not change.empty:
        result.vocabulary = change


def _vocab(side: Side) -> dict[str, int] | None:
    tokenizer = side.documents.get("tokenizer.json")
    if isinstance(tokenizer, dict):
        model = tokenizer.get("model")
        vocab = model.get("vocab") if isinstance(model, dict) else None
        if isinstance(vocab, dict):
            return {str(k): int(v) for k, v in vocab.items() if isinstance(v, int)}
        if isinstance(vocab, list):  # Unigram: [piece, score] pairs, the id is the position
            return vocabulary_of_list(
                [str(item[0]) if isinstance(item, list) and item else str(item) for item in vocab]
            )
    for model_file in side.weights:
        if model_file.vocabulary is not None:
            return vocabulary_of_list(model_file.vocabulary)
    return None


def _files(result: DiffResult) -> None:
    known, candidate = result.known_good.files, result.candidate.files
    if result.known_good.kind != "directory" or result.candidate.kind != "directory":
        return
    result.files_added = sorted(set(candidate) - set(known))
    result.files_removed = sorted(set(known) - set(candidate))
    result.files_changed = sorted(n for n in set(known) & set(candidate) if known[n] != candidate[n])
