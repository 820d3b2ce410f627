"""One side of a diff: a model file, or a Hugging Face directory sorted into roles.

Formats are recognised from content (``artifacts.sniff``); inside a directory the documents are
recognised by the names Hugging Face gives them (config.json, tokenizer.json...), weights by content.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlvet.artifacts import Format, open_buffer, sniff
from mlvet.diff.formats import FormatError, ModelFile, read_gguf, read_onnx, read_safetensors
from mlvet.diff.torch_state import StateDictError, read_state_dict
from mlvet.errors import InputError

JSON_ROLES = (
    "config.json",
    "generation_config.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "added_tokens.json",
    "preprocessor_config.json",
    "chat_template.json",
)
"""Documents compared as JSON, by their Hugging Face names (at the top of the directory)."""
TEMPLATE_FILES = ("chat_template.jinja",)
MAX_FILES = 10_000
MAX_DOCUMENT_BYTES = 64 << 20
WEIGHT_FORMATS = {
    Format.SAFETENSORS: "safetensors",
    Format.ZIP: "pytorch",
    Format.GGUF: "gguf",
    Format.ONNX: "onnx",
}
PREFERENCE = ("safetensors", "pytorch", "gguf", "onnx")
"""When a directory holds the same weights in several formats, the first of these is compared."""


@dataclass
class Side:
    """Everything of one side that the diff compares."""

    path: Path
    kind: str
    """``onnx``, ``pytorch``, ``safetensors``, ``gguf`` or ``directory``."""
    weights: list[ModelFile] = field(default_factory=list)
    onnx_files: dict[str, ModelFile] = field(default_factory=dict)
    """Relative path -> ONNX file (for topology)."""
    documents: dict[str, Any] = field(default_factory=dict)
    """Role (file name) -> parsed JSON."""
    templates: dict[str, str] = field(default_factory=dict)
    """Chat template name -> source."""
    files: dict[str, str] = field(default_factory=dict)
    """Relative path -> sha256, for directories."""
    problems: list[str] = field(default_factory=list)
    """Files of a directory that could not be read (the diff is then incomplete)."""

    @property
    def weight_format(self) -> str | None:
        return self.weights[0].format if self.weights else None


def open_side(path: Path, role: str) -> Side:
    """Read ``path`` (a model file or a directory); ``InputError`` when it cannot be used at all."""
    if not path.exists():
        raise InputError(f"{role} {path} does not exist")
    if path.is_dir():
        return _directory(path)
    kind = detect_kind(path)
    if kind is None:
        raise InputError(
            f"{role} {path} is not a model format mlvet diff reads",
            hint="diff ONNX, PyTorch (torch.save zip), safetensors or GGUF files, or HF model directories",
        )
    try:
        model = read_model(path, kind)
    except (FormatError, StateDictError) as exc:
        raise InputError(
            f"{role} {path} cannot be read as {kind}: {exc}", hint="is the file complete?"
        ) from None
    side = Side(path, kind, weights=[model])
    if model.onnx_model is not None:
        side.onnx_files[path.name] = model
    _gguf_documents(model, side)
    return side


def detect_kind(path: Path) -> str | None:
    try:
        with open_buffer(path) as data:
            fmt = sniff(data)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return WEIGHT_FORMATS.get(fmt)


def read_model(path: Path, kind: str) -> ModelFile:
    if kind == "safetensors":
        return read_safetensors(path)
    if kind == "gguf":
        return read_gguf(path)
    if kind == "onnx":
        return read_onnx(path)
    tensors = read_state_dict(path)
    return ModelFile(path, "pytorch", tensors)


def _gguf_documents(model: ModelFile, side: Side) -> None:
    if model.format != "gguf":
        return
    for key, value in model.metadata.items():
        if key == "tokenizer.chat_template" and isinstance(value, str):
            side.templates["default"] = value
        elif key.startswith("tokenizer.chat_template.") and isinstance(value, str):
            side.templates[key.removeprefix("tokenizer.chat_template.")] = value


def _directory(root: Path) -> Side:
    side = Side(root, "directory")
    by_format: dict[str, list[tuple[str, ModelFile]]] = {}
    for file in _listing(root):
        relative = file.relative_to(root).as_posix()
        if file.is_symlink():  # never followed: recorded by its target, so that a change shows
            side.files[relative] = f"symlink:{file.readlink()}"
            continue
        kind = None if relative in JSON_ROLES or relative in TEMPLATE_FILES else detect_kind(file)
        if kind is None:
            side.files[relative] = _sha256(file)
            if relative in JSON_ROLES:
                _read_document(file, relative, side)
            elif relative in TEMPLATE_FILES:
                side.templates["default"] = file.read_text("utf-8", errors="replace")
            continue
        try:
            model = read_model(file, kind)
        except (FormatError, StateDictError) as exc:
            side.files[relative] = _sha256(file)
            side.problems.append(f"{relative}: cannot be read as {kind}: {exc}")
            continue
        by_format.setdefault(kind, []).append((relative, model))
        if kind == "onnx":
            side.onnx_files[relative] = model
        _gguf_documents(model, side)
    chosen = next((kind for kind in PREFERENCE if kind in by_format), None)
    for kind, models in by_format.items():
        for relative, model in models:
            # the compared weights are diffed tensor by tensor; hashing them would read them once more
            side.files[relative] = f"weights:{kind}" if kind == chosen else _sha256(model.path)
    if chosen is not None:
        side.weights = [model for _, model in by_format[chosen]]
    _templates_from_documents(side)
    return side


def _listing(root: Path) -> list[Path]:
    """Regular files and symlinks under ``root`` (hidden ones skipped), without following links."""
    found: list[Path] = []
    for folder, subfolders, names in os.walk(root, followlinks=False):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in sorted(names):
            path = Path(folder) / name
            if not name.startswith(".") and (path.is_symlink() or path.is_file()):
                found.append(path)
            if len(found) > MAX_FILES:
                raise InputError(
                    f"{root} holds more than {MAX_FILES} files", hint="point mlvet diff at the model folder"
                )
    return sorted(found)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _read_document(file: Path, relative: str, side: Side) -> None:
    if file.stat().st_size > MAX_DOCUMENT_BYTES:
        side.problems.append(f"{relative}: larger than {MAX_DOCUMENT_BYTES} bytes, not compared")
        return
    try:
        side.documents[relative] = json.loads(file.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        side.problems.append(f"{relative}: not valid JSON ({exc})")
    except RecursionError:
        side.problems.append(f"{relative}: JSON nested too deeply to parse")


def _templates_from_documents(side: Side) -> None:
    config = side.documents.get("tokenizer_config.json")
    if isinstance(config, dict):
        template = config.get("chat_template")
        if isinstance(template, str):
            side.templates.setdefault("default", template)
        elif isinstance(template, list):
            for item in template:
                if (
                    isinstance(item, dict)
                    and isinstance(item.get("name"), str)
                    and isinstance(item.get("template"), str)
                ):
                    side.templates.setdefault(item["name"], item["template"])
    separate = side.documents.get("chat_template.json")
    if isinstance(separate, dict) and isinstance(separate.get("chat_template"), str):
        side.templates.setdefault("default", separate["chat_template"])
