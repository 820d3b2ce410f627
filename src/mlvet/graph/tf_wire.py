"""TensorFlow protobuf messages read from the wire format: NodeDefs, FunctionDefs, attributes, tensors.

Field numbers (checked against ``tensorboard.compat.proto``): GraphDef{1 node, 2 library},
NodeDef{1 name, 2 op, 3 input, 5 attr}, FunctionDef{1 signature OpDef{1 name, 2 input_arg
ArgDef{1 name, 3 type}}, 3 node_def, 4 ret}, AttrValue{1 list ListValue{3 i}, 3 i, 5 b, 6 type,
7 shape, 8 tensor, 10 func}, TensorProto{1 dtype, 2 tensor_shape, 4 tensor_content, 5 float_val,
6 double_val, 7 int_val, 10 int64_val, 11 bool_val, 13 half_val, 16 uint32_val, 17 uint64_val},
TensorShapeProto{2 dim{1 size}, 3 unknown_rank}. Malformed bytes raise ``WireError``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlvet._internal.protowire import FIXED32, FIXED64, LENGTH, VARINT, iter_fields, read_varint
from mlvet.graph.ir import MAX_CONSTANT_ELEMENTS, Constant

# TF DataType -> numpy-style name
_DTYPES = {
    1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 7: "string",
    8: "complex64", 9: "int64", 10: "bool", 14: "bfloat16", 17: "uint16", 18: "complex128",
    19: "float16", 20: "resource", 21: "variant", 22: "uint32", 23: "uint64",
}  # fmt: skip
_NUMPY = frozenset(
    {"float32", "float64", "int32", "uint8", "int16", "int8", "int64", "bool", "uint16", "float16", "uint32",
     "uint64"}
)  # fmt: skip


@dataclass
class TfNode:
    """One NodeDef: attribute values are kept as wire bytes and decoded on demand."""

    name: str
    op: str
    inputs: list[str]
    attrs: dict[str, memoryview]


@dataclass
class TfFunction:
    name: str
    nodes: list[TfNode]
    args: list[tuple[str, int]] = field(default_factory=list)
    """(argument name, TF DataType)."""
    ret: list[str] = field(default_factory=list)


def parse_node(data: memoryview) -> TfNode:
    node = TfNode("", "", [], {})
    for item in iter_fields(data):
        if item.wire_type != LENGTH or not isinstance(item.value, memoryview):
            continue
        if item.number == 1:
            node.name = _text(item.value)
        elif item.number == 2:
            node.op = _text(item.value)
        elif item.number == 3 and len(node.inputs) < 4096:
            node.inputs.append(_text(item.value))
        elif item.number == 5:
            key, value = _map_entry(item.value)
            if isinstance(value, memoryview):
                node.attrs[key] = value
    return node


def parse_function(data: memoryview) -> TfFunction:
    function = TfFunction("", [])
    for item in iter_fields(data):
        if not isinstance(item.value, memoryview) or item.wire_type != LENGTH:
            continue
        if item.number == 1:
            for sub in iter_fields(item.value):
                if sub.number == 1 and isinstance(sub.value, memoryview):
                    function.name = _text(sub.value)
                elif sub.number == 2 and isinstance(sub.value, memoryview):
                    arg = {f.number: f.value for f in iter_fields(sub.value)}
                    name, dtype = arg.get(1), arg.get(3, 0)
                    if isinstance(name, memoryview) and isinstance(dtype, int):
                        function.args.append((_text(name), dtype))
        elif item.number == 3:
            function.nodes.append(parse_node(item.value))
        elif item.number == 4:
            _, value = _map_entry(item.value)
            if isinstance(value, memoryview):
                function.ret.append(_text(value))
    return function


def messages(data: memoryview, number: int) -> Iterator[memoryview]:
    for item in iter_fields(data):
        if item.number == number and item.wire_type == LENGTH and isinstance(item.value, memoryview):
            yield item.value


def _map_entry(data: memoryview) -> tuple[str, memoryview | None]:
    key, value = "", None
    for item in iter_fields(data):
        if item.number == 1 and isinstance(item.value, memoryview):
            key = _text(item.value)
        elif item.number == 2 and isinstance(item.value, memoryview):
            value = item.value
    return key, value


def _text(data: memoryview) -> str:
    return bytes(data[:4096]).decode("utf-8", "replace")


def _attr_field(node: TfNode, key: str, number: int) -> int | memoryview | None:
    value = node.attrs.get(key)
    if value is None:
        return None
    found = None
    for item in iter_fields(value):
        if item.number == number:
            found = item.value
    return found


def attr_int(node: TfNode, key: str) -> int:
    """An int, type or bool attribute (fields 3, 6 and 5 are varints; only one is set)."""
    for number in (3, 6, 5):
        found = _attr_field(node, key, number)
        if isinstance(found, int):
            return _signed(found)
    return 0


def attr_ints(node: TfNode, key: str) -> list[int]:
    listed = _attr_field(node, key, 1)
    if not isinstance(listed, memoryview):
        return []
    return [_signed(v) for v in _numbers(listed, 3, VARINT)][:64]


def attr_shape(node: TfNode, key: str) -> tuple[int, ...] | None:
    found = _attr_field(node, key, 7)
    return _shape(found) if isinstance(found, memoryview) else None


def attr_func(node: TfNode, key: str) -> str:
    found = _attr_field(node, key, 10)
    if not isinstance(found, memoryview):
        return ""
    names = [
        _text(item.value)
        for item in iter_fields(found)
        if item.number == 1 and isinstance(item.value, memoryview)
    ]
    return names[-1] if names else ""


def tensor_field(attr: memoryview) -> memoryview | None:
    found = None
    for item in iter_fields(attr):
        if item.number == 8 and isinstance(item.value, memoryview):
            found = item.value
    return found


def _shape(data: memoryview) -> tuple[int, ...] | None:
    dims: list[int] = []
    for item in iter_fields(data):
        if item.number == 3 and item.value:
            return None
        if item.number == 2 and isinstance(item.value, memoryview):
            size = next((f.value for f in iter_fields(item.value) if f.number == 1), 0)
            dims.append(_signed(size) if isinstance(size, int) else -1)
            if len(dims) > 64:
                return None
    return tuple(dims)


def constant_dims(shape: tuple[int, ...]) -> tuple[int, ...]:
    """A constant's dims (unknown ones as 0); () when the element count is absurd."""
    dims = tuple(max(d, 0) for d in shape)
    return dims if math.prod(dims) <= 1 << 48 else ()


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


_TYPED_FIELDS = {
    5: FIXED32,
    6: FIXED64,
    7: VARINT,
    10: VARINT,
    11: VARINT,
    13: VARINT,
    16: VARINT,
    17: VARINT,
}


def tensor_constant(name: str, data: memoryview) -> Constant:
    """A TensorProto as a ``Constant``: the value when it is numeric and small."""
    dtype_code, content = 0, None
    shape: tuple[int, ...] = ()
    values: list[int] = []
    numbers_seen: set[int] = set()
    for item in iter_fields(data):
        if item.number == 1 and isinstance(item.value, int):
            dtype_code = item.value
        elif item.number == 2 and isinstance(item.value, memoryview):
            shape = _shape(item.value) or ()
        elif item.number == 4 and isinstance(item.value, memoryview):
            content = item.value
        elif item.number in _TYPED_FIELDS and len(values) <= MAX_CONSTANT_ELEMENTS:
            numbers_seen.add(item.number)
            kind = _TYPED_FIELDS[item.number]
            if isinstance(item.value, memoryview):
                values.extend(_numbers(item.value, None, kind))
            else:
                values.append(item.value)
    dtype = dtype_name(dtype_code)
    dims = constant_dims(shape)
    constant = Constant(name, dtype, dims, None)
    if dtype not in _NUMPY or dims != tuple(shape) or math.prod(dims) > MAX_CONSTANT_ELEMENTS:
        return constant
    numpy_type = np.dtype(dtype).newbyteorder("<")
    if content is not None:
        if len(content) == constant.size * numpy_type.itemsize:
            constant.value = np.frombuffer(bytes(content), dtype=numpy_type).astype(dtype).reshape(dims)
        return constant
    if len(values) > constant.size or len(numbers_seen) > 1:
        return constant  # more values than elements, or several typed fields: malformed
    if values and len(values) < constant.size:
        values.extend([values[-1]] * (constant.size - len(values)))  # TF repeats the last value
    with np.errstate(all="ignore"):
        array = _typed(values, min(numbers_seen), dtype) if values else np.zeros(constant.size, dtype=dtype)
    constant.value = array.reshape(dims)
    return constant


def _typed(values: list[int], number: int, dtype: str) -> Any:
    if number == 5:
        return np.array(values, dtype=np.uint32).view(np.float32).astype(dtype)
    if number == 6:
        return np.array(values, dtype=np.uint64).view(np.float64).astype(dtype)
    if number == 13:
        return np.array([v & 0xFFFF for v in values], dtype=np.uint16).view(np.float16).astype(dtype)
    if number in (16, 17):
        return np.array(values, dtype=np.uint64).astype(dtype)
    return np.array([_signed(v) for v in values], dtype=np.int64).astype(dtype)


def _numbers(data: memoryview, number: int | None, kind: int) -> list[int]:
    """Packed numbers (``data`` is the packed payload, or a message holding field ``number``)."""
    if number is not None:
        found: list[int] = []
        for item in iter_fields(data):
            if item.number != number:
                continue
            if isinstance(item.value, memoryview):
                found.extend(_numbers(item.value, None, kind))
            else:
                found.append(item.value)
        return found
    if kind == FIXED32:
        usable = min(len(data) - len(data) % 4, (MAX_CONSTANT_ELEMENTS + 1) * 4)
        return [int(v) for v in np.frombuffer(bytes(data[:usable]), dtype="<u4")]
    if kind == FIXED64:
        usable = min(len(data) - len(data) % 8, (MAX_CONSTANT_ELEMENTS + 1) * 8)
        return [int(v) for v in np.frombuffer(bytes(data[:usable]), dtype="<u8")]
    out: list[int] = []
    pos = 0
    while pos < len(data) and len(out) <= MAX_CONSTANT_ELEMENTS:
        value, pos = read_varint(data, pos)
        out.append(value)
    return out


def dtype_name(code: int) -> str:
    return _DTYPES.get(code - 100 if code > 100 else code, "unknown")
