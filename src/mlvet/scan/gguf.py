"""GGUF (llama.cpp) files: a bounded header parser, tensor layout checks and chat-template analysis.

Every declared length and count is checked against the bytes that remain before anything is read, so
a hostile header (a 2^60-byte string, more entries than the file can hold) costs nothing. Tensor data
is never read: the scan costs the same for a 100 KB file and a 100 GB one.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from mlvet.artifacts import Buffer
from mlvet.findings import Location, ProblemKind, Rule, Severity
from mlvet.scan import templates
from mlvet.scan.base import ScanContext

GGUF_MALFORMED = Rule(
    "MLV604",
    "Malformed GGUF header or metadata",
    Severity.HIGH,
    "The GGUF header or metadata contradicts itself or the file: lengths or counts beyond the end of the "
    "file, unknown value types, duplicate keys, impossible tensor shapes. Parsers that trust these fields "
    "have had heap overflows; a well-formed converter never writes them. Treat the file as hostile.",
    ("CVE-2024-21802", "CVE-2025-53630", "CVE-2026-27940"),
)
GGUF_TENSOR_LAYOUT = Rule(
    "MLV605",
    "GGUF tensor data out of bounds, misaligned or overlapping",
    Severity.HIGH,
    "A tensor's data range reaches past the end of the file, is not aligned as the header requires, or "
    "overlaps another tensor. Loaders that do not check read memory they do not own (out-of-bounds reads "
    "have leaked process memory). A converter never writes such a layout; treat the file as hostile.",
    ("CVE-2026-7482",),
)
GGUF_UNUSED_DATA = Rule(
    "MLV606",
    "GGUF file carries unreferenced bytes",
    Severity.LOW,
    "Bytes between or after the tensors are referenced by nothing in the header. Loaders ignore them, so "
    "they can smuggle a payload past tools that only parse the header. Check where the file came from.",
)

RULES: tuple[Rule, ...] = (GGUF_MALFORMED, GGUF_TENSOR_LAYOUT, GGUF_UNUSED_DATA)

DEFAULT_ALIGNMENT = 32
MAX_DIMS = 8
"""llama.cpp allows 4; a little tolerance for other readers."""
MAX_ARRAY_DEPTH = 8
MAX_STRING_ELEMENTS = 16_000_000
"""Strings walked one by one in arrays (a 262k-token vocabulary plus merges is well below this)."""
MAX_REPORTED = 10
TEMPLATE_KEY = "tokenizer.chat_template"

_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY, _UINT32 = 8, 9, 4
_TYPE_NAMES = {
    0: "uint8", 1: "int8", 2: "uint16", 3: "int16", 4: "uint32", 5: "int32", 6: "float32", 7: "bool",
    8: "string", 9: "array", 10: "uint64", 11: "int64", 12: "float64",
}  # fmt: skip

GGML_BLOCKS: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 36),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82),
    23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2),
    34: (256, 54), 35: (256, 66), 39: (32, 17), 40: (64, 36), 41: (128, 18),
}  # fmt: skip
"""ggml tensor type -> (elements per block, bytes per block). Unlisted ids below 64 are unknown or removed."""
MAX_GGML_TYPE = 63


class _Malformed(Exception):
    """A header field that cannot be honoured: the rest of the header cannot be read."""

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset


@dataclass
class _Tensor:
    name: str
    dims: tuple[int, ...]
    ggml_type: int
    offset: int
    info_offset: int
    nbytes: int | None = None


@dataclass
class _Header:
    version: int
    tensor_count: int
    kv_count: int
    alignment: int = DEFAULT_ALIGNMENT
    keys: set[str] = field(default_factory=set)
    tensors: list[_Tensor] = field(default_factory=list)


class _Reader:
    """Bounded little- or big-endian reads over the buffer; every overrun is a ``_Malformed``."""

    def __init__(self, data: Buffer, *, big_endian: bool, version: int) -> None:
        self.data = data
        self.size = len(data)
        self.pos = 0
        order = ">" if big_endian else "<"
        self._u32 = struct.Struct(order + "I")
        self._u64 = struct.Struct(order + "Q")
        self.wide = version >= 2
        """Versions 2 and 3 use 64-bit counts and lengths; version 1 used 32-bit ones."""
        self.string_elements = 0

    @property
    def remaining(self) -> int:
        return self.size - self.pos

    def u32(self) -> int:
        self.need(4, "a 32-bit field")
        (value,) = self._u32.unpack_from(self.data, self.pos)
        self.pos += 4
        return int(value)

    def u64(self) -> int:
        self.need(8, "a 64-bit field")
        (value,) = self._u64.unpack_from(self.data, self.pos)
        self.pos += 8
        return int(value)

    def count(self) -> int:
        return self.u64() if self.wide else self.u32()

    def need(self, nbytes: int, what: str) -> None:
        if nbytes > self.remaining:
            raise _Malformed(
                f"{what} of {nbytes} bytes at byte {self.pos} runs past the end of the file "
                f"({self.remaining} bytes left)",
                self.pos,
            )

    def string(self, what: str) -> bytes:
        start = self.pos
        length = self.count()
        if length > self.remaining:
            raise _Malformed(
                f"{what} declares a length of {length} bytes but only {self.remaining} remain", start
            )
        value = bytes(self.data[self.pos : self.pos + length])
        self.pos += length
        return value

    def skip_string(self, what: str) -> None:
        start = self.pos
        length = self.count()
        if length > self.remaining:
            raise _Malformed(
                f"{what} declares a length of {length} bytes but only {self.remaining} remain", start
            )
        self.pos += length


def scan_gguf(data: Buffer, ctx: ScanContext) -> None:
    """Validate the header, metadata and tensor layout of a GGUF file; analyse its chat templates."""
    try:
        header, reader = _read_preamble(data)
        _read_metadata(reader, header, ctx)
        _read_tensor_infos(reader, header, ctx)
    except _Malformed as exc:
        ctx.report(
            GGUF_MALFORMED,
            f"malformed GGUF header: {exc.reason}",
            location=Location(offset=exc.offset),
            evidence={"reason": exc.reason},
        )
        ctx.problem(ProblemKind.CORRUPT, f"GGUF header unreadable from byte {exc.offset}: {exc.reason}")
        return
    _check_layout(header, reader.pos, len(data), ctx)


def _read_preamble(data: Buffer) -> tuple[_Header, _Reader]:
    if len(data) < 8 or bytes(data[:4]) != b"GGUF":
        raise _Malformed(f"file of {len(data)} bytes is too short for a GGUF header", 0)
    little, big = struct.unpack_from("<I", data, 4)[0], struct.unpack_from(">I", data, 4)[0]
    if little in (1, 2, 3):
        version, big_endian = little, False
    elif big in (2, 3):
        version, big_endian = big, True
    else:
        raise _Malformed(f"unknown GGUF version {little}", 4)
    reader = _Reader(data, big_endian=big_endian, version=version)
    reader.pos = 8
    tensor_count, kv_count = reader.count(), reader.count()
    return _Header(version, tensor_count, kv_count), reader


def _read_metadata(reader: _Reader, header: _Header, ctx: ScanContext) -> None:
    minimum = (8 if reader.wide else 4) + 4 + 1
    if header.kv_count * minimum > reader.remaining:
        ctx.report(
            GGUF_MALFORMED,
            f"header declares {header.kv_count} metadata entries but only {reader.remaining} bytes follow",
            location=Location(offset=8 + (8 if reader.wide else 4)),
            evidence={"kv_count": header.kv_count, "bytes_left": reader.remaining},
        )
    duplicates: list[str] = []
    for _ in range(header.kv_count):
        entry = reader.pos
        key = reader.string("metadata key").decode("utf-8", "replace")
        value_type = reader.u32()
        value_offset = reader.pos
        if key in header.keys:
            duplicates.append(key)
        header.keys.add(key)
        if value_type == _STRING and (key == TEMPLATE_KEY or key.startswith(TEMPLATE_KEY + ".")):
            source = reader.string(f"metadata {key!r}").decode("utf-8", "replace")
            templates.analyse_template(
                source, ctx, where=f"GGUF {key}", location=Location(offset=value_offset, pointer=key)
            )
        elif key == "general.alignment":
            header.alignment = _alignment(reader, value_type, entry)
        else:
            _skip_value(reader, value_type, key, depth=0)
    if duplicates:
        ctx.report(
            GGUF_MALFORMED,
            f"metadata key {duplicates[0]!r} appears more than once; readers disagree on which value wins",
            evidence={"duplicate_keys": duplicates[:MAX_REPORTED]},
        )


def _alignment(reader: _Reader, value_type: int, entry: int) -> int:
    if value_type != _UINT32:
        raise _Malformed(
            f"general.alignment has type {_TYPE_NAMES.get(value_type, value_type)}, not uint32", entry
        )
    value = reader.u32()
    if value == 0 or value & (value - 1):
        raise _Malformed(f"general.alignment {value} is not a power of two", entry)
    return value


def _skip_value(reader: _Reader, value_type: int, key: str, *, depth: int) -> None:
    if value_type in _SCALAR_SIZES:
        reader.need(_SCALAR_SIZES[value_type], f"value of {key!r}")
        reader.pos += _SCALAR_SIZES[value_type]
    elif value_type == _STRING:
        reader.skip_string(f"metadata {key!r}")
    elif value_type == _ARRAY:
        _skip_array(reader, key, depth=depth + 1)
    else:
        raise _Malformed(f"metadata {key!r} has unknown value type {value_type}", reader.pos - 4)


def _skip_array(reader: _Reader, key: str, *, depth: int) -> None:
    start = reader.pos
    if depth > MAX_ARRAY_DEPTH:
        raise _Malformed(f"metadata {key!r} nests arrays deeper than {MAX_ARRAY_DEPTH} levels", start)
    item_type = reader.u32()
    count = reader.count()
    if item_type in _SCALAR_SIZES:
        size = count * _SCALAR_SIZES[item_type]
        if size > reader.remaining:
            raise _Malformed(
                f"array {key!r} declares {count} items ({size} bytes); {reader.remaining} bytes remain",
                start,
            )
        reader.pos += size
        return
    minimum = (8 if reader.wide else 4) if item_type == _STRING else 8
    if item_type not in (_STRING, _ARRAY):
        raise _Malformed(f"array {key!r} has unknown item type {item_type}", start)
    if count * minimum > reader.remaining:
        raise _Malformed(
            f"array {key!r} declares {count} items but only {reader.remaining} bytes remain", start
        )
    if item_type == _STRING:
        reader.string_elements += count
        if reader.string_elements > MAX_STRING_ELEMENTS:
            raise _Malformed(f"more than {MAX_STRING_ELEMENTS} strings in metadata arrays", start)
        for _ in range(count):
            reader.skip_string(f"item of array {key!r}")
    else:
        for _ in range(count):
            _skip_array(reader, key, depth=depth + 1)


def _read_tensor_infos(reader: _Reader, header: _Header, ctx: ScanContext) -> None:
    minimum = (8 if reader.wide else 4) + 4 + 4 + 8
    if header.tensor_count * minimum > reader.remaining:
        raise _Malformed(
            f"header declares {header.tensor_count} tensors; {reader.remaining} bytes follow the metadata",
            reader.pos,
        )
    problems: list[str] = []
    names: set[str] = set()
    for _ in range(header.tensor_count):
        info_offset = reader.pos
        name = reader.string("tensor name").decode("utf-8", "replace")
        n_dims = reader.u32()
        if n_dims > MAX_DIMS:
            raise _Malformed(
                f"tensor {name!r} declares {n_dims} dimensions (at most {MAX_DIMS})", info_offset
            )
        dims = tuple(reader.count() for _ in range(n_dims))
        tensor = _Tensor(name, dims, reader.u32(), reader.u64(), info_offset)
        problem = _tensor_size(tensor)
        if problem:
            problems.append(problem)
        if name in names:
            problems.append(f"tensor name {name!r} appears more than once")
        names.add(name)
        header.tensors.append(tensor)
    for problem in problems[:MAX_REPORTED]:
        ctx.report(GGUF_MALFORMED, f"malformed tensor info: {problem}", evidence={"reason": problem})


def _tensor_size(tensor: _Tensor) -> str | None:
    """Sets ``tensor.nbytes``; the reason when the shape or type is impossible."""
    elements = 1
    for dim in tensor.dims:
        elements *= dim
    if elements >= 1 << 63:
        return f"tensor {tensor.name!r} has {elements} elements, more than any reader can address"
    if tensor.ggml_type > MAX_GGML_TYPE:
        return f"tensor {tensor.name!r} has unknown type {tensor.ggml_type}"
    block = GGML_BLOCKS.get(tensor.ggml_type)
    if block is None:
        return None
    block_elements, block_bytes = block
    if tensor.dims and tensor.dims[0] % block_elements:
        return f"tensor {tensor.name!r} row of {tensor.dims[0]} elements is not a multiple of its block size"
    tensor.nbytes = elements // block_elements * block_bytes
    return None


def _check_layout(header: _Header, infos_end: int, file_size: int, ctx: ScanContext) -> None:
    """Tensor ranges inside the file, aligned and disjoint; bytes nothing refers to."""
    alignment = header.alignment
    data_start = _align(infos_end, alignment)
    issues: list[tuple[str, int | None]] = []
    spans: list[tuple[int, int, str]] = []
    for tensor in header.tensors:
        begin = data_start + tensor.offset
        end = begin + (tensor.nbytes or 0)
        if tensor.offset % alignment:
            issues.append(
                (f"tensor {tensor.name!r} offset {tensor.offset} is not a multiple of {alignment}", begin)
            )
        if end > file_size:
            issues.append(
                (
                    f"tensor {tensor.name!r} data [{begin}, {end}) ends past the file's {file_size} bytes",
                    begin,
                )
            )
        spans.append((begin, end, tensor.name))
    spans.sort()
    furthest_end, furthest_name = -1, ""
    for begin, end, name in spans:
        if begin < furthest_end:
            issues.append((f"tensors {furthest_name!r} and {name!r} overlap at byte {begin}", begin))
        if end > furthest_end:
            furthest_end, furthest_name = end, name
    for reason, offset in issues[:MAX_REPORTED]:
        ctx.report(GGUF_TENSOR_LAYOUT, reason, location=Location(offset=offset), evidence={"reason": reason})
    if not issues:
        _check_unused(spans, data_start, alignment, file_size, ctx)


def _check_unused(
    spans: list[tuple[int, int, str]], data_start: int, alignment: int, file_size: int, ctx: ScanContext
) -> None:
    gaps = 0
    position = data_start
    for begin, end, _ in spans:
        if begin > position:
            gaps += begin - position
        position = max(position, _align(end, alignment))
    trailing = max(0, file_size - position)
    if gaps or trailing:
        ctx.report(
            GGUF_UNUSED_DATA,
            f"{gaps + trailing} bytes belong to no tensor ({gaps} between tensors, {trailing} at the end)",
            location=Location(offset=position if trailing else data_start),
            evidence={"gap_bytes": gaps, "trailing_bytes": trailing},
        )


def _align(position: int, alignment: int) -> int:
    return position + (-position % alignment)
