"""Readers that turn one model file into tensor references and metadata, without loading the weights.

safetensors: the header is parsed here (8-byte length, JSON) and checked (offsets inside the data,
no overlap); GGUF: ``gguf.GGUFReader`` parses the header (it maps the file, it executes nothing);
ONNX: ``onnx`` reads the protobuf with external data left on disk; PyTorch: ``torch_state``.
"""

from __future__ import annotations

import itertools
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlvet.diff.tensors import ITEM_SIZES, TensorRef

if TYPE_CHECKING:
    import onnx

MAX_SAFETENSORS_HEADER = 100 << 20
MAX_GGUF_ARRAY_SHOWN = 16
"""GGUF array metadata longer than this is summarised (length and a digest) except the vocabulary."""

SAFETENSORS_DTYPES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64", "I32": "int32",
    "I16": "int16", "I8": "int8", "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8",
    "BOOL": "bool", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2", "C64": "complex64",
}  # fmt: skip


class FormatError(ValueError):
    """The file is not a valid instance of the format it claims."""


@dataclass
class ModelFile:
    """What one weight file holds, as the diff needs it."""

    path: Path
    format: str
    tensors: list[TensorRef]
    metadata: dict[str, Any] = field(default_factory=dict)
    """safetensors ``__metadata__``; GGUF key/value pairs (long arrays summarised)."""
    onnx_model: onnx.ModelProto | None = None
    vocabulary: list[str] | None = None
    """GGUF ``tokenizer.ggml.tokens``."""


def read_safetensors(path: Path) -> ModelFile:
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise FormatError("shorter than the 8-byte header length")
        (length,) = struct.unpack("<Q", head)
        if length > min(MAX_SAFETENSORS_HEADER, size - 8):
            raise FormatError(
                f"header length {length} exceeds the file or the {MAX_SAFETENSORS_HEADER}-byte limit"
            )
        try:
            header = json.loads(handle.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FormatError(f"header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise FormatError("header is not a JSON object")
    base = 8 + length
    metadata = header.pop("__metadata__", None) or {}
    tensors: list[TensorRef] = []
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        tensors.append(_safetensors_ref(path, name, entry, base, size))
        spans.append((tensors[-1].offset, tensors[-1].offset + tensors[-1].nbytes, name))
    spans.sort()
    for (_, end, first), (start, _, second) in itertools.pairwise(spans):
        if start < end:
            raise FormatError(f"tensors {first!r} and {second!r} overlap")
    tensors.sort(key=lambda t: t.offset)
    return ModelFile(path, "safetensors", tensors, metadata if isinstance(metadata, dict) else {})


def _safetensors_ref(path: Path, name: str, entry: Any, base: int, size: int) -> TensorRef:
    if not isinstance(entry, dict):
        raise FormatError(f"entry {name!r} is not an object")
    dtype = SAFETENSORS_DTYPES.get(str(entry.get("dtype")))
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if dtype is None:
        raise FormatError(f"tensor {name!r} has an unknown dtype {entry.get('dtype')!r}")
    if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
        raise FormatError(f"tensor {name!r} has an invalid shape")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
        raise FormatError(f"tensor {name!r} has invalid data_offsets")
    start, end = offsets
    nbytes = ITEM_SIZES[dtype]
    for dim in shape:
        nbytes *= dim
    if not 0 <= start <= end or base + end > size or end - start != nbytes:
        raise FormatError(f"tensor {name!r}: data_offsets {offsets} do not fit its shape or the file")
    return TensorRef(name, dtype, tuple(shape), nbytes, path=path, offset=base + start)


def read_gguf(path: Path) -> ModelFile:
    try:
        from gguf import GGUFReader, GGUFValueType
        from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType
    except ImportError:  # pragma: no cover - installed with the diff's dependencies
        from mlvet.errors import InputError

        raise InputError(
            f"{path} is a GGUF file and the 'gguf' package is not installed",
            hint="pip install gguf (the GGUF header parser mlvet diff uses)",
        ) from None
    _check_gguf_header(path)
    try:
        reader = GGUFReader(path, "r")
    except (ValueError, KeyError, IndexError, struct.error, OSError, TypeError) as exc:
        raise FormatError(f"GGUF header does not parse: {exc}") from None
    metadata: dict[str, Any] = {}
    vocabulary: list[str] | None = None
    for key, fld in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        value = _gguf_value(fld, GGUFValueType)
        if key == "tokenizer.ggml.tokens" and isinstance(value, list):
            vocabulary = [str(v) for v in value]
            metadata[key] = {"length": len(value)}
        elif isinstance(value, list) and len(value) > MAX_GGUF_ARRAY_SHOWN:
            metadata[key] = {"length": len(value), "digest": _digest(value)}
        else:
            metadata[key] = value
    tensors: list[TensorRef] = []
    for tensor in reader.tensors:
        qtype = GGMLQuantizationType(int(tensor.tensor_type))
        numpy_name = {
            GGMLQuantizationType.F32: "float32", GGMLQuantizationType.F16: "float16",
            GGMLQuantizationType.BF16: "bfloat16", GGMLQuantizationType.F64: "float64",
            GGMLQuantizationType.I8: "int8", GGMLQuantizationType.I16: "int16",
            GGMLQuantizationType.I32: "int32", GGMLQuantizationType.I64: "int64",
        }.get(qtype)  # fmt: skip
        shape = tuple(int(d) for d in reversed(tensor.shape.tolist()))  # GGUF lists dims innermost first
        nbytes = int(tensor.n_bytes)
        if qtype in GGML_QUANT_SIZES and numpy_name is None:
            block, type_size = GGML_QUANT_SIZES[qtype]
            if nbytes != int(tensor.n_elements) // block * type_size:
                raise FormatError(f"tensor {tensor.name!r} size does not match its quantization type")
        tensors.append(
            TensorRef(
                str(tensor.name),
                numpy_name or qtype.name,
                shape,
                nbytes,
                path=path,
                offset=int(tensor.data_offset),
                gguf_type=None if numpy_name else int(qtype),
            )
        )
    size = path.stat().st_size
    for ref in tensors:
        if ref.offset + ref.nbytes > size:
            raise FormatError(f"tensor {ref.name!r} reaches past the end of the file")
    return ModelFile(path, "gguf", tensors, metadata, vocabulary=vocabulary)


def _check_gguf_header(path: Path) -> None:
    """Validate the header with ``mlvet scan``'s bounded GGUF parser before ``gguf`` walks it."""
    from mlvet.artifacts import open_buffer
    from mlvet.config import Settings
    from mlvet.findings import Subject
    from mlvet.scan.base import Collector, ScanContext
    from mlvet.scan.gguf import scan_gguf

    collector = Collector()
    with open_buffer(path) as data:
        scan_gguf(data, ScanContext(Subject(str(path)), Settings(), collector, lambda *_: None))
    if collector.problems:
        raise FormatError(collector.problems[0].message)


def _gguf_value(fld: Any, value_type: Any) -> Any:
    types = list(fld.types)
    if not types:
        return None
    if types[0] == value_type.ARRAY:
        items = [fld.parts[i] for i in fld.data]
        if len(types) > 1 and types[1] == value_type.STRING:
            return [bytes(item).decode("utf-8", "replace") for item in items]
        return [item.tolist()[0] if hasattr(item, "tolist") else item for item in items]
    part = fld.parts[fld.data[0]] if fld.data else None
    if part is None:
        return None
    if types[0] == value_type.STRING:
        return bytes(part).decode("utf-8", "replace")
    scalar = part.tolist()
    return scalar[0] if isinstance(scalar, list) and len(scalar) == 1 else scalar


def _digest(value: Any) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(value, default=str).encode()).hexdigest()[:16]


def read_onnx(path: Path) -> ModelFile:
    import onnx
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, RuntimeError, ValueError, OSError) as exc:
        raise FormatError(f"not an ONNX model: {exc}") from None
    tensors = [_onnx_ref(path, tensor) for tensor in model.graph.initializer]
    return ModelFile(path, "onnx", tensors, {}, onnx_model=model)


def _onnx_ref(path: Path, tensor: onnx.TensorProto) -> TensorRef:
    from onnx import TensorProto, helper, numpy_helper

    shape = tuple(int(d) for d in tensor.dims)
    try:
        dtype = str(helper.tensor_dtype_to_np_dtype(tensor.data_type))
    except (KeyError, TypeError, ValueError):
        dtype = f"onnx-type-{tensor.data_type}"
    if tensor.data_type == TensorProto.BFLOAT16:
        dtype = "bfloat16"
    elements = 1
    for dim in shape:
        elements *= dim
    nbytes = elements * ITEM_SIZES.get(dtype, 1)
    if tensor.data_location == TensorProto.EXTERNAL:
        info = {entry.key: entry.value for entry in tensor.external_data}
        location = info.get("location", "")
        target = (path.parent / location).resolve()
        if not location or Path(location).is_absolute() or path.parent.resolve() not in target.parents:
            raise FormatError(f"tensor {tensor.name!r} points outside the model's folder: {location!r}")
        offset = int(info.get("offset", "0") or 0)
        return TensorRef(tensor.name, dtype, shape, nbytes, path=target, offset=offset)
    if tensor.HasField("raw_data") or tensor.raw_data:
        return TensorRef(tensor.name, dtype, shape, len(tensor.raw_data), data=tensor.raw_data)
    try:
        array = numpy_helper.to_array(tensor)
    except (ValueError, TypeError, KeyError) as exc:
        raise FormatError(f"tensor {tensor.name!r} cannot be decoded: {exc}") from None
    if array.dtype.kind not in "biufc":
        raw = json.dumps([str(v) for v in array.reshape(-1).tolist()]).encode()
        return TensorRef(tensor.name, "bytes", shape, len(raw), data=raw)
    raw = array.astype(array.dtype.newbyteorder("<")).tobytes()
    return TensorRef(tensor.name, dtype, shape, len(raw), data=raw)
