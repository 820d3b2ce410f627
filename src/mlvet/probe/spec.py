"""What a model takes as input, and clean samples of it.

Symbolic dimensions get small defaults (batch 1, sequence 16, image 3x32x32) unless the user gives a
shape. Integer inputs that index an embedding table draw ids below the table's row count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mlvet.probe.errors import RunnerError

BATCH = 1
SEQUENCE = 16
IMAGE_CHANNELS = 3
IMAGE_SIDE = 32
DEFAULT_VOCAB = 1000
_SUPPORTED = frozenset(
    {
        TensorProto.BOOL,
        TensorProto.INT8,
        TensorProto.INT16,
        TensorProto.INT32,
        TensorProto.INT64,
        TensorProto.UINT8,
        TensorProto.UINT16,
        TensorProto.UINT32,
        TensorProto.UINT64,
        TensorProto.FLOAT16,
        TensorProto.FLOAT,
        TensorProto.DOUBLE,
    }
)


@dataclass(frozen=True)
class InputSpec:
    """One graph input: name, numpy dtype, concrete shape and the range clean values come from."""

    name: str
    dtype: np.dtype[np.generic]
    shape: tuple[int, ...]
    low: float
    high: float
    """Clean values lie in ``[low, high]`` (integers: inclusive bounds)."""
    kind: str
    """``bytes``, ``tokens``, ``mask``, ``image``, ``bool``, ``integer`` or ``float``."""
    table_rows: int | None = None
    """Rows of the embedding table these ids index: ids at or past it make the model fail, not open."""

    @property
    def is_integer(self) -> bool:
        return bool(np.issubdtype(self.dtype, np.integer) or self.dtype == np.bool_)


def input_specs(
    model: onnx.ModelProto,
    shapes: Mapping[str, tuple[int, ...]] | None = None,
    observed: Mapping[str, tuple[int, ...]] | None = None,
) -> list[InputSpec]:
    """The specs of every true graph input (initializers listed as inputs are skipped).

    ``shapes`` (the user's) win; an ``observed`` shape (a calibration sample's) fills the symbolic
    dimensions when it agrees with every fixed one; defaults fill the rest.
    """
    shapes = shapes or {}
    observed = observed or {}
    graph = model.graph
    initialized = {t.name for t in graph.initializer}
    vocab = _embedding_vocab(graph)
    specs = []
    for value in graph.input:
        if value.name in initialized:
            continue
        tensor = value.type.tensor_type
        if not value.type.HasField("tensor_type") or tensor.elem_type not in _SUPPORTED:
            kind = (
                onnx.TensorProto.DataType.Name(tensor.elem_type)
                if value.type.HasField("tensor_type")
                else None
            )
            raise RunnerError(
                f"input {value.name!r} is a {kind or value.type.WhichOneof('value') or 'untyped'} "
                "value, which mlvet probe cannot generate",
                hint="mlvet probe feeds numeric and boolean tensors only",
            )
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.elem_type))
        dims: list[int | None] = [
            d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tensor.shape.dim
        ]
        kind = _kind(value.name, dtype, dims)
        shape = shapes.get(value.name) or _agreeing(dims, observed.get(value.name)) or _concrete(dims, kind)
        rows = vocab.get(value.name)
        low, high = _value_range(dtype, kind, rows)
        specs.append(InputSpec(value.name, dtype, shape, low, high, kind, rows))
    return specs


def clean_input(spec: InputSpec, rng: np.random.Generator) -> np.ndarray:
    """One clean sample for ``spec``: uniform over its range (floats: N(0,1) unless an image)."""
    if spec.kind == "mask":
        return np.ones(spec.shape, dtype=spec.dtype)
    if spec.is_integer:
        values = rng.integers(int(spec.low), int(spec.high) + 1, size=spec.shape)
        return values.astype(spec.dtype)
    if spec.kind == "image":
        return rng.random(spec.shape).astype(spec.dtype)
    return rng.standard_normal(spec.shape).astype(spec.dtype)


def clean_feed(specs: list[InputSpec], rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {spec.name: clean_input(spec, rng) for spec in specs}


def _kind(name: str, dtype: np.dtype[np.generic], dims: list[int | None]) -> str:
    lowered = name.lower()
    if dtype == np.bool_:
        return "bool"
    if np.issubdtype(dtype, np.integer):
        if "mask" in lowered:
            return "mask"
        if dtype.itemsize == 1:
            return "bytes"
        return "tokens" if ("id" in lowered or "token" in lowered or len(dims) == 2) else "integer"
    if len(dims) == 4 and dims[1] in (None, 1, 3):
        return "image"
    return "float"


def _agreeing(dims: list[int | None], seen: tuple[int, ...] | None) -> tuple[int, ...] | None:
    """``seen`` when it has the model's rank and every fixed dimension."""
    if seen is None or len(seen) != len(dims):
        return None
    return seen if all(d in (None, s) for d, s in zip(dims, seen, strict=True)) else None


def _concrete(dims: list[int | None], kind: str) -> tuple[int, ...]:
    shape = []
    for axis, dim in enumerate(dims):
        if dim is not None:
            shape.append(dim)
        elif axis == 0:
            shape.append(BATCH)
        elif kind == "image":
            shape.append(IMAGE_CHANNELS if axis == 1 else IMAGE_SIDE)
        else:
            shape.append(SEQUENCE)
    return tuple(shape)


def _value_range(dtype: np.dtype[np.generic], kind: str, vocab: int | None) -> tuple[float, float]:
    if dtype == np.bool_:
        return 0.0, 1.0
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)  # type: ignore[type-var]
        if dtype.itemsize == 1:
            return float(info.min), float(info.max)
        rows = vocab or DEFAULT_VOCAB
        return 0.0, float(min(rows - 1, info.max))
    if kind == "image":
        return 0.0, 1.0
    return -3.0, 3.0


def _embedding_vocab(graph: onnx.GraphProto) -> dict[str, int]:
    """Row count of the embedding table each integer input indexes (through Cast/Identity)."""
    tables = {t.name: tuple(t.dims) for t in graph.initializer}
    constants = {
        n.output[0]: tuple(numpy_helper.to_array(a.t).shape)
        for n in graph.node
        if n.op_type == "Constant" and n.output
        for a in n.attribute
        if a.name == "value"
    }
    tables.update(constants)
    aliases = {v.name: v.name for v in graph.input}
    for node in graph.node:
        if node.op_type in ("Cast", "Identity") and node.input and node.input[0] in aliases:
            aliases[node.output[0]] = aliases[node.input[0]]
    vocab: dict[str, int] = {}
    for node in graph.node:
        if node.op_type != "Gather" or len(node.input) < 2 or node.input[1] not in aliases:
            continue
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        table = tables.get(node.input[0])
        if table and axis == 0 and table[0] > 0:
            source = aliases[node.input[1]]
            vocab[source] = min(vocab.get(source, table[0]), table[0])
    return vocab
