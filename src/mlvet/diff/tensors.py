"""Tensor references and their streaming comparison: bounded chunks, never a whole tensor in float64.

A ``TensorRef`` says where a tensor's raw bytes are (a file offset, or bytes already in memory) and
how to read them (dtype, shape, strides). ``compare_tensors`` reads both sides in chunks of
``CHUNK_BYTES`` into reused buffers (``readinto``: no mapping grows the resident set), decodes each
chunk to float64 and accumulates max |delta|, squared norms and the count of elements changed beyond
the element tolerance. Quantized GGUF tensors are compared by raw bytes and, where ``gguf`` can
dequantize the type, by dequantized values.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

CHUNK_BYTES = 8 << 20
"""Bytes read per side per step; float64 work arrays stay within a few times this."""
MAX_STRIDED_BYTES = 256 << 20
"""A non-contiguous tensor is gathered in memory only up to this span."""

NUMPY_DTYPES: dict[str, str] = {
    "float64": "<f8", "float32": "<f4", "float16": "<f2", "int64": "<i8", "int32": "<i4", "int16": "<i2",
    "int8": "i1", "uint64": "<u8", "uint32": "<u4", "uint16": "<u2", "uint8": "u1", "bool": "u1",
    "complex64": "<c8", "complex128": "<c16",
}  # fmt: skip
"""Canonical dtype names whose bytes numpy decodes directly (little endian, as every format stores)."""
ITEM_SIZES: dict[str, int] = {
    **{name: np.dtype(code).itemsize for name, code in NUMPY_DTYPES.items()},
    "bfloat16": 2,
    "float8_e4m3fn": 1,
    "float8_e5m2": 1,
    "float8_e4m3fnuz": 1,
    "float8_e5m2fnuz": 1,
}


@dataclass(frozen=True)
class Tolerance:
    """What counts as a change: ``atol`` per element, ``rel_l2`` per tensor."""

    rel_l2: float = 1e-3
    """A tensor whose relative L2 change exceeds this is reported as changed beyond tolerance."""
    atol: float = 0.0
    """An element counts as changed when |known - candidate| exceeds this."""


@dataclass(frozen=True)
class TensorRef:
    """Where one tensor's bytes are and how to decode them."""

    name: str
    dtype: str
    """Canonical dtype: a ``NUMPY_DTYPES`` key, ``bfloat16``, a float8 name or a GGUF type name (``Q4_K``)."""
    shape: tuple[int, ...]
    nbytes: int
    path: Path | None = None
    offset: int = 0
    data: bytes | None = None
    strides: tuple[int, ...] | None = None
    """Element strides when not contiguous (PyTorch views); None for row-major contiguous."""
    gguf_type: int | None = None
    """GGML quantization type number for GGUF tensors."""

    @property
    def elements(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class TensorDelta:
    """How one tensor differs between the two sides."""

    name: str
    status: str
    """``unchanged``, ``changed``, ``added``, ``removed``, ``reshaped`` (shape differs) or ``retyped``
    (dtype differs; values compared when both dtypes decode, e.g. Q8_0 -> Q4_0 dequantized)."""
    dtype_before: str | None
    dtype_after: str | None
    shape_before: tuple[int, ...] | None
    shape_after: tuple[int, ...] | None
    elements: int = 0
    max_abs_delta: float = 0.0
    rel_l2: float = 0.0
    changed_fraction: float = 0.0
    compared: str = "values"
    """``values`` (decoded), ``bytes`` (raw only: a dtype numpy cannot decode), or ``none``."""
    order: int = 0
    """Position in the candidate's (else the known-good's) file order: layer order for the plot."""

    def beyond(self, tolerance: Tolerance) -> bool:
        return self.status != "unchanged" and (self.status != "changed" or self.rel_l2 > tolerance.rel_l2)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "dtype": [self.dtype_before, self.dtype_after],
            "shape": [
                list(self.shape_before) if self.shape_before is not None else None,
                list(self.shape_after) if self.shape_after is not None else None,
            ],
            "elements": self.elements,
            "max_abs_delta": json_float(self.max_abs_delta),
            "rel_l2": json_float(self.rel_l2),
            "changed_fraction": json_float(self.changed_fraction),
            "compared": self.compared,
        }


def json_float(value: float) -> float | str:
    """Finite floats as they are; ``inf``/``nan`` as strings (JSON has no spelling for them)."""
    return value if math.isfinite(value) else str(value)


def compare_tensors(
    known: TensorRef, candidate: TensorRef, tolerance: Tolerance, order: int = 0
) -> TensorDelta:
    """Compare two tensors of the same name; reads both in bounded chunks."""
    base = TensorDelta(
        known.name, "unchanged", known.dtype, candidate.dtype, known.shape, candidate.shape, order=order
    )
    if known.shape != candidate.shape:
        return _replace(base, status="reshaped", compared="none", elements=candidate.elements)
    left_decoder, right_decoder = _decoder(known), _decoder(candidate)
    same_dtype = known.dtype == candidate.dtype
    if not same_dtype and (left_decoder.decode is None or right_decoder.decode is None):
        return _replace(base, status="retyped", compared="none", elements=candidate.elements)
    block = math.lcm(left_decoder.block, right_decoder.block)
    per_chunk = block * max(1, CHUNK_BYTES // (8 * block))
    stats = _Stats()
    for left, right in zip(
        _chunks(known, left_decoder, per_chunk), _chunks(candidate, right_decoder, per_chunk), strict=True
    ):
        stats.add(left, right, left_decoder, right_decoder, tolerance.atol, same_dtype)
    status = "retyped" if not same_dtype else ("unchanged" if stats.identical else "changed")
    return TensorDelta(
        known.name,
        status,
        known.dtype,
        candidate.dtype,
        known.shape,
        candidate.shape,
        elements=known.elements,
        max_abs_delta=stats.max_abs,
        rel_l2=stats.rel_l2(),
        changed_fraction=(stats.changed / stats.counted)
        if stats.counted
        else (0.0 if stats.identical else 1.0),
        compared="values" if left_decoder.decode is not None else "bytes",
        order=order,
    )


def one_sided(ref: TensorRef, status: str, order: int) -> TensorDelta:
    """A tensor present on one side only (``added`` or ``removed``)."""
    before, after = (ref, None) if status == "removed" else (None, ref)
    return TensorDelta(
        ref.name,
        status,
        before.dtype if before else None,
        after.dtype if after else None,
        before.shape if before else None,
        after.shape if after else None,
        elements=ref.elements,
        compared="none",
        order=order,
    )


def _replace(delta: TensorDelta, **changes: Any) -> TensorDelta:
    from dataclasses import replace

    return replace(delta, **changes)


@dataclass(frozen=True)
class _Decoder:
    unit: int
    """Bytes of one block (an element, or a quantization block of ``block`` elements)."""
    decode: Any
    """bytes -> float64 array, or None when only raw bytes can be compared."""
    block: int = 1
    """Elements per ``unit`` bytes."""


def _decoder(ref: TensorRef) -> _Decoder:
    code = NUMPY_DTYPES.get(ref.dtype)
    if code is not None:
        dtype = np.dtype(code)
        if dtype.kind == "c":  # compared as raw bytes: a complex weight has no natural ordering of change
            return _Decoder(dtype.itemsize, None)
        return _Decoder(dtype.itemsize, lambda raw: np.frombuffer(raw, dtype).astype(np.float64))
    if ref.dtype == "bfloat16":
        return _Decoder(2, _bfloat16)
    if ref.gguf_type is not None:
        return _gguf_decoder(ref.gguf_type)
    return _Decoder(ITEM_SIZES.get(ref.dtype, 1), None)


def _bfloat16(raw: bytes | memoryview) -> npt.NDArray[np.float64]:
    halves = np.frombuffer(raw, "<u2").astype(np.uint32) << 16
    return halves.view(np.float32).astype(np.float64)


def _gguf_decoder(qtype: int) -> _Decoder:
    try:
        from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType
        from gguf.quants import dequantize
    except ImportError:
        return _Decoder(1, None)
    try:
        kind = GGMLQuantizationType(qtype)
        block, type_size = GGML_QUANT_SIZES[kind]
    except (ValueError, KeyError):
        return _Decoder(1, None)

    def decode(raw: bytes | memoryview) -> npt.NDArray[np.float64]:
        blocks = np.frombuffer(raw, np.uint8).reshape(-1, type_size)
        return np.asarray(dequantize(blocks, kind), dtype=np.float64).reshape(-1)

    try:
        decode(bytes(type_size))
    except (NotImplementedError, ValueError, TypeError):
        return _Decoder(type_size, None, block)
    return _Decoder(type_size, decode, block)


class _Stats:
    def __init__(self) -> None:
        self.max_abs = 0.0
        self.diff_sq = 0.0
        self.norm_sq = 0.0
        self.changed = 0
        self.counted = 0
        self.identical = True

    def add(
        self,
        left: memoryview,
        right: memoryview,
        left_decoder: _Decoder,
        right_decoder: _Decoder,
        atol: float,
        same_dtype: bool,
    ) -> None:
        same_bytes = same_dtype and left == right
        if left_decoder.decode is None:
            raw_left = np.frombuffer(left, np.uint8)
            raw_right = np.frombuffer(right, np.uint8)
            changed = int(np.count_nonzero(raw_left != raw_right))
            self.changed += changed
            self.counted += raw_left.size
            self.identical &= changed == 0
            return
        with np.errstate(invalid="ignore", over="ignore"):
            self._add_values(left_decoder.decode(left), right, right_decoder, atol, same_bytes)

    def _add_values(
        self,
        a: npt.NDArray[np.float64],
        right: memoryview,
        right_decoder: _Decoder,
        atol: float,
        same_bytes: bool,
    ) -> None:
        self.counted += a.size
        norm = float(np.dot(a, a))
        if not math.isfinite(norm):  # NaN or inf weights: the norm counts the finite ones
            finite = a[np.isfinite(a)]
            norm = float(np.dot(finite, finite))
        self.norm_sq += norm
        if same_bytes:
            return
        self.identical = False
        delta = a - right_decoder.decode(right)
        squared = float(np.dot(delta, delta))
        if math.isfinite(squared):  # the usual case: one pass per statistic
            np.abs(delta, out=delta)
        else:
            delta = self._nonfinite_delta(a, right_decoder.decode(right))
            finite = delta[np.isfinite(delta)]
            squared = float(np.dot(finite, finite)) if finite.size == delta.size else math.inf
        self.diff_sq += squared
        self.max_abs = max(self.max_abs, float(delta.max(initial=0.0)))
        self.changed += int(np.count_nonzero(delta > atol))

    @staticmethod
    def _nonfinite_delta(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """|a - b| where NaN on both sides counts as equal and NaN on one side as an infinite change."""
        delta = np.abs(a - b)
        delta[np.isnan(a) & np.isnan(b)] = 0.0
        delta[np.isnan(delta)] = np.inf
        return delta

    def rel_l2(self) -> float:
        if self.diff_sq == 0.0:
            return 0.0
        if self.norm_sq == 0.0:
            return math.inf
        return math.sqrt(self.diff_sq) / math.sqrt(self.norm_sq)


def _chunks(ref: TensorRef, decoder: _Decoder, elements: int) -> Iterator[memoryview]:
    """The tensor's bytes in row-major order, ``elements`` (a multiple of the block) at a time."""
    step = elements // decoder.block * decoder.unit
    if ref.strides is not None:
        yield from _strided_chunks(ref, step)
        return
    if ref.data is not None:
        view = memoryview(ref.data)[ref.offset : ref.offset + ref.nbytes]
        for start in range(0, ref.nbytes, step):
            yield view[start : start + step]
        return
    if ref.path is None:
        raise ValueError(f"tensor {ref.name!r} has neither data nor a file")
    buffer = bytearray(min(step, ref.nbytes))
    with ref.path.open("rb") as handle:
        handle.seek(ref.offset)
        remaining = ref.nbytes
        while remaining > 0:
            size = min(step, remaining)
            view = memoryview(buffer)[:size]
            got = handle.readinto(view)
            if got != size:
                raise ValueError(f"tensor {ref.name!r} runs past the end of {ref.path.name}")
            yield view
            remaining -= size


def _strided_chunks(ref: TensorRef, step: int) -> Iterator[memoryview]:
    code = NUMPY_DTYPES.get(ref.dtype)
    itemsize = ITEM_SIZES.get(ref.dtype, 1)
    assert ref.strides is not None
    span = (1 + sum((d - 1) * s for d, s in zip(ref.shape, ref.strides, strict=True))) * itemsize
    if min(ref.shape, default=1) == 0:
        return
    if span > MAX_STRIDED_BYTES:
        raise ValueError(f"non-contiguous tensor {ref.name!r} spans {span} bytes (limit {MAX_STRIDED_BYTES})")
    if ref.data is not None:
        raw = bytes(memoryview(ref.data)[ref.offset : ref.offset + span])
    else:
        assert ref.path is not None
        with ref.path.open("rb") as handle:
            handle.seek(ref.offset)
            raw = handle.read(span)
    if len(raw) != span:
        raise ValueError(f"tensor {ref.name!r} runs past the end of its storage")
    base = np.frombuffer(raw, np.dtype(code) if code else np.dtype(f"V{itemsize}"))
    view = np.lib.stride_tricks.as_strided(
        base, ref.shape, tuple(s * itemsize for s in ref.strides), writeable=False
    )
    contiguous = np.ascontiguousarray(view).tobytes()
    whole = memoryview(contiguous)
    for start in range(0, len(contiguous), step):
        yield whole[start : start + step]
