"""What a model says about itself: architecture, inputs/outputs, parameters, datasets, ancestry.

Read from the files' own headers (ONNX graph signature, safetensors and GGUF headers) and from Hugging
Face metadata (``config.json``, README front matter). Parsing only: nothing is loaded or run.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlvet.artifacts import Format
from mlvet.bom.inventory import ModelArtifact, ModelFile

MAX_METADATA_BYTES = 8 * 1024 * 1024
"""Largest config / README / safetensors header read for facts."""

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.DOTALL)


@dataclass
class ModelFacts:
    """Everything the model card can say; None / empty where the files are silent."""

    architecture: str | None = None
    family: str | None = None
    task: str | None = None
    license: str | None = None
    parameters: int | None = None
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    base_models: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)


def read_facts(model: ModelArtifact) -> ModelFacts:
    """The facts of ``model``: weights headers first, then Hugging Face metadata on top."""
    facts = ModelFacts()
    parameters = 0
    counted = False
    for entry in model.weights:
        count = _read_weights(entry, facts)
        if count is not None:
            parameters += count
            counted = True
    if counted:
        facts.parameters = parameters
    by_name = {f.relative: f for f in model.files}
    if "config.json" in by_name:
        _read_config(_json(by_name["config.json"].path), facts)
    if "README.md" in by_name:
        _read_front_matter(by_name["README.md"].path, facts)
    return facts


def _read_weights(entry: ModelFile, facts: ModelFacts) -> int | None:
    readers = {Format.ONNX: _onnx, Format.SAFETENSORS: _safetensors, Format.GGUF: _gguf}
    reader = readers.get(entry.format)
    if reader is None:
        return None
    try:
        return reader(entry.path, facts)
    except (OSError, ValueError, struct.error, KeyError, TypeError):
        return None  # a damaged header leaves the card silent; `mlvet scan` reports the damage


def _onnx(path: Path, facts: ModelFacts) -> int:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    initialized = {t.name for t in graph.initializer}
    facts.inputs.extend(_onnx_value(v) for v in graph.input if v.name not in initialized)
    facts.outputs.extend(_onnx_value(v) for v in graph.output)
    if model.producer_name:
        facts.properties["mlvet:producer"] = f"{model.producer_name} {model.producer_version}".strip()
    facts.properties["mlvet:opset"] = ", ".join(
        f"{o.domain or 'ai.onnx'} {o.version}" for o in model.opset_import
    )
    facts.architecture = facts.architecture or graph.name or None
    return sum(math.prod(t.dims) for t in graph.initializer)


def _onnx_value(value: Any) -> str:
    import onnx

    tensor = value.type.tensor_type
    dtype = onnx.TensorProto.DataType.Name(tensor.elem_type).lower() if tensor.elem_type else "?"
    dims = [d.dim_param or str(d.dim_value) for d in tensor.shape.dim]
    return f"{value.name}: {dtype}[{', '.join(dims)}]"


def _safetensors(path: Path, facts: ModelFacts) -> int:
    with path.open("rb") as stream:
        (length,) = struct.unpack("<Q", stream.read(8))
        if length > MAX_METADATA_BYTES:
            raise ValueError("safetensors header too large for facts")
        header = json.loads(stream.read(length))
    metadata = header.pop("__metadata__", None) or {}
    if isinstance(metadata.get("format"), str):
        facts.properties.setdefault("mlvet:safetensors-format", metadata["format"])
    return sum(math.prod(int(d) for d in t["shape"]) for t in header.values())


def _gguf(path: Path, facts: ModelFacts) -> int | None:
    try:
        from gguf import GGUFReader
    except ImportError:
        return None
    reader = GGUFReader(str(path))
    fields = {name: _gguf_text(field) for name, field in reader.fields.items()}
    facts.architecture = facts.architecture or fields.get("general.architecture")
    facts.family = facts.family or fields.get("general.basename")
    facts.license = facts.license or fields.get("general.license")
    if fields.get("general.file_type"):
        facts.properties["mlvet:gguf-file-type"] = str(fields["general.file_type"])
    return sum(int(t.n_elements) for t in reader.tensors)


def _gguf_text(field: Any) -> str | None:
    if not field.types or not field.data:
        return None
    value = field.parts[field.data[0]]
    try:
        return bytes(value).decode("utf-8") if field.types[0].name == "STRING" else str(value[0])
    except (UnicodeDecodeError, IndexError):
        return None


def _json(path: Path) -> Any:
    try:
        if path.stat().st_size > MAX_METADATA_BYTES:
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _read_config(config: Any, facts: ModelFacts) -> None:
    if not isinstance(config, dict):
        return
    architectures = config.get("architectures")
    if isinstance(architectures, list) and architectures and isinstance(architectures[0], str):
        facts.architecture = architectures[0]
    if isinstance(config.get("model_type"), str):
        facts.family = config["model_type"]
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size", "torch_dtype"):
        if isinstance(config.get(key), int | str) and not isinstance(config.get(key), bool):
            facts.properties[f"mlvet:config.{key}"] = str(config[key])


def _read_front_matter(path: Path, facts: ModelFacts) -> None:
    """The README's YAML front matter, read with a small subset parser (scalars and lists of scalars)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")[:MAX_METADATA_BYTES]
    except OSError:
        return
    match = _FRONT_MATTER.match(text)
    if match is None:
        return
    front = _simple_yaml(match.group(1))
    task = front.get("pipeline_tag")
    facts.task = task if isinstance(task, str) else facts.task
    license_ = front.get("license")
    facts.license = license_ if isinstance(license_, str) else facts.license
    facts.datasets.extend(_strings(front.get("datasets")))
    facts.base_models.extend(_strings(front.get("base_model")))


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _simple_yaml(text: str) -> dict[str, str | list[str]]:
    """Top-level ``key: value``, ``key: [a, b]`` and ``key:`` + ``- item`` lines; the rest is ignored."""
    result: dict[str, str | list[str]] = {}
    current: list[str] | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.lstrip().startswith("#"):
            continue
        if line.startswith((" ", "\t", "-")) and current is not None:
            item = line.strip()
            if item.startswith("- "):
                current.append(_unquote(item[2:]))
            continue
        key, sep, value = line.partition(":")
        if not sep or line.startswith((" ", "\t")):
            current = None
            continue
        value = value.strip()
        if value.startswith("[") and value.endswith("]"):
            result[key.strip()] = [_unquote(v) for v in value[1:-1].split(",") if v.strip()]
            current = None
        elif value:
            result[key.strip()] = _unquote(value)
            current = None
        else:
            current = []
            result[key.strip()] = current
    return result


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value
