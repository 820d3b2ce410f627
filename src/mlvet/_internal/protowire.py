"""A bounded reader of the protobuf wire format, for parsing models without their frameworks."""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from typing import NamedTuple

Data = bytes | memoryview | mmap.mmap

VARINT, FIXED64, LENGTH, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


class Field(NamedTuple):
    number: int
    wire_type: int
    value: int | memoryview
    """An int for VARINT/FIXED32/FIXED64, a view of the payload for LENGTH."""
    offset: int


def read_varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    end = len(data)
    while True:
        if pos >= end:
            raise WireError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 10 bytes")


def iter_fields(data: Data, base: int = 0) -> Iterator[Field]:
    """The top-level fields of one message; raises WireError on malformed input."""
    view = memoryview(data)
    pos = 0
    end = len(view)
    while pos < end:
        key, pos = read_varint(view, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        start = pos
        if wire_type == VARINT:
            value, pos = read_varint(view, pos)
            yield Field(number, wire_type, value, base + start)
        elif wire_type == LENGTH:
            length, pos = read_varint(view, pos)
            if length > end - pos:
                raise WireError(f"field {number} declares {length} bytes, {end - pos} remain")
            yield Field(number, wire_type, view[pos : pos + length], base + pos)
            pos += length
        elif wire_type == FIXED64:
            if pos + 8 > end:
                raise WireError("truncated fixed64")
            yield Field(number, wire_type, int.from_bytes(view[pos : pos + 8], "little"), base + start)
            pos += 8
        elif wire_type == FIXED32:
            if pos + 4 > end:
                raise WireError("truncated fixed32")
            yield Field(number, wire_type, int.from_bytes(view[pos : pos + 4], "little"), base + start)
            pos += 4
        else:
            raise WireError(f"unsupported wire type {wire_type}")


def fields_by_number(data: Data) -> dict[int, list[Field]]:
    grouped: dict[int, list[Field]] = {}
    for field in iter_fields(data):
        grouped.setdefault(field.number, []).append(field)
    return grouped


def text(field: Field) -> str:
    """A LENGTH field decoded as UTF-8 (invalid bytes replaced)."""
    if not isinstance(field.value, memoryview):
        raise WireError(f"field {field.number} is not length-delimited")
    return bytes(field.value).decode("utf-8", "replace")
