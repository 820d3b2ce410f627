"""NumPy ``.npy`` files (and, through the zip walker, the arrays inside ``.npz``).

An object-dtype array stores its data as a pickle, which ``np.load(allow_pickle=True)`` runs: that
pickle is scanned like any other. For plain arrays the header must match the data, and bytes
appended after the array (which ``np.load`` never reads) are scanned for what they are.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass

import numpy as np
from numpy.lib import format as npy_format

from mlvet.artifacts import Buffer, Format, sniff
from mlvet.findings import Location, ProblemKind, Rule, Severity
from mlvet.scan.base import ScanContext

NPY_INVALID = Rule(
    "MLV205",
    "NumPy file header is invalid or does not match the data",
    Severity.MEDIUM,
    "The .npy header cannot be parsed, or the data is shorter or longer than the shape and dtype "
    "declare. numpy.load refuses a broken header, and it never reads bytes after the array, so "
    "extra bytes there are a place to smuggle content past tools that trust the header. mlvet "
    "scanned any recognisable trailing content; re-save the array if the file is yours.",
)
NPY_OBJECT_ARRAY = Rule(
    "MLV206",
    "NumPy object array: its data is a pickle",
    Severity.LOW,
    "The array has an object dtype, so numpy stores its elements with pickle and "
    "np.load(allow_pickle=True) runs that pickle. mlvet scanned the pickle (its own rules report "
    "anything dangerous); prefer plain dtypes so that arrays load with allow_pickle=False.",
    ("https://numpy.org/doc/stable/reference/generated/numpy.load.html",),
)

RULES: tuple[Rule, ...] = (NPY_INVALID, NPY_OBJECT_ARRAY)

MAGIC = b"\x93NUMPY"
MAX_HEADER_BYTES = 1 << 20
"""Headers longer than this are not parsed (numpy itself refuses more than 10,000 by default)."""
OBJECT_ARRAY = "<object array>"
TRAILING = "<trailing data>"
_INERT = (Format.UNKNOWN, Format.TEXT, Format.EMPTY, Format.MEDIA)


@dataclass(frozen=True)
class NpyHeader:
    version: tuple[int, int]
    dtype: np.dtype[np.generic]
    shape: tuple[int, ...]
    data_offset: int

    @property
    def data_bytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


class NpyError(ValueError):
    """The header cannot be understood."""


def parse_header(data: Buffer) -> NpyHeader:
    """The header of an .npy file; ``NpyError`` says what is wrong with it."""
    if bytes(data[:6]) != MAGIC or len(data) < 10:
        raise NpyError("missing NumPy magic")
    major, minor = data[6], data[7]
    if major == 1:
        length, start = int.from_bytes(bytes(data[8:10]), "little"), 10
    elif major in (2, 3) and len(data) >= 12:
        length, start = int.from_bytes(bytes(data[8:12]), "little"), 12
    else:
        raise NpyError(f"unknown format version {major}.{minor}")
    if length > MAX_HEADER_BYTES:
        raise NpyError(f"header of {length} bytes is larger than {MAX_HEADER_BYTES}")
    if start + length > len(data):
        raise NpyError("header runs past the end of the file")
    raw = bytes(data[start : start + length])
    try:
        text = raw.decode("utf-8" if major == 3 else "latin1")
        fields = ast.literal_eval(_PY2_LONG.sub(r"\1", text))
    except (UnicodeDecodeError, SyntaxError, ValueError, TypeError, MemoryError, RecursionError) as exc:
        raise NpyError(f"header is not a Python literal: {type(exc).__name__}") from None
    return NpyHeader((major, minor), *_validate(fields), start + length)


_PY2_LONG = re.compile(r"\b(\d+)L\b")
"""Python 2 wrote shapes as ``(3L,)``; numpy strips the suffix before reading the header, so does mlvet."""


def _validate(fields: object) -> tuple[np.dtype[np.generic], tuple[int, ...]]:
    if not isinstance(fields, dict) or set(fields) != {"descr", "fortran_order", "shape"}:
        raise NpyError("header must be a dict with exactly descr, fortran_order and shape")
    shape = fields["shape"]
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise NpyError(f"invalid shape {shape!r:.80}")
    if not isinstance(fields["fortran_order"], bool):
        raise NpyError("fortran_order must be True or False")
    try:
        dtype = npy_format.descr_to_dtype(fields["descr"])
    except (TypeError, ValueError, KeyError, IndexError, OverflowError, RecursionError, MemoryError) as exc:
        raise NpyError(f"invalid descr {fields['descr']!r:.80}: {exc}") from None
    return dtype, shape


def scan_numpy(data: Buffer, ctx: ScanContext) -> None:
    """Scan the pickle of an object array; check plain arrays against their header."""
    try:
        header = parse_header(data)
    except NpyError as exc:
        ctx.report(NPY_INVALID, f"invalid .npy header: {exc}", location=Location(offset=0))
        ctx.problem(ProblemKind.CORRUPT, f"NumPy header not understood: {exc}")
        return
    if header.dtype.hasobject:
        ctx.report(
            NPY_OBJECT_ARRAY,
            f"object array (dtype {header.dtype.str}, shape {header.shape}): the data is a pickle",
            location=Location(offset=header.data_offset),
            evidence={"descr": str(header.dtype.descr), "shape": list(header.shape)},
        )
        ctx.scan_member(data[header.data_offset :], OBJECT_ARRAY, expect=Format.PICKLE)
        return
    _check_size(data, header, ctx)


def _check_size(data: Buffer, header: NpyHeader, ctx: ScanContext) -> None:
    expected = header.data_bytes
    actual = len(data) - header.data_offset
    evidence = {"expected_bytes": expected, "actual_bytes": actual, "shape": list(header.shape)}
    location = Location(offset=header.data_offset)
    if actual < expected:
        message = f"array data is {actual} bytes; shape and dtype declare {expected}"
        ctx.report(NPY_INVALID, message, location=location, evidence=evidence)
    elif actual > expected:
        end = header.data_offset + expected
        message = f"{actual - expected} bytes follow the array data (numpy.load never reads them)"
        ctx.report(NPY_INVALID, message, location=Location(offset=end), evidence=evidence)
        trailing = data[end:]
        if sniff(trailing) not in _INERT:
            ctx.scan_member(trailing, TRAILING)
