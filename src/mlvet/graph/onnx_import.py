"""ONNX ``ModelProto`` bytes -> ``Graph``, with the ``onnx`` package's protobuf classes.

External tensor data is never opened: such tensors keep their shape and dtype only, as do
tensors larger than ``MAX_CONSTANT_ELEMENTS``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mlvet.graph.ir import MAX_CONSTANT_ELEMENTS, Constant, Graph, Node, ValueInfo, captures_of

if TYPE_CHECKING:
    import onnx

NUMERIC_KINDS = frozenset("biuf")
"""numpy dtype kinds kept as values: bool, signed, unsigned, float."""
MAX_DEPTH = 32
"""Subgraphs nested deeper than this are not imported."""


def import_onnx(data: bytes) -> Graph:
    """The main graph of the serialized model ``data``; ``ValueError`` when it does not parse."""
    import onnx
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

    try:
        model = onnx.ModelProto.FromString(bytes(data))
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ValueError(f"not an ONNX model: {exc}") from None
    return import_model(model)


def import_model(model: onnx.ModelProto) -> Graph:
    """The main graph of an already parsed model."""
    return _graph(model.graph, 0)


def _graph(proto: onnx.GraphProto, depth: int) -> Graph:
    constants: dict[str, Constant] = {}
    for tensor in proto.initializer:
        constants[tensor.name] = _constant(tensor.name, tensor)
    for sparse in proto.sparse_initializer:
        name = sparse.values.name
        constants[name] = Constant(name, _dtype_name(sparse.values.data_type), tuple(sparse.dims), None)
    nodes: list[Node] = []
    for proto_node in proto.node:
        node = _node(proto_node, depth)
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and node.outputs:
            constant = _constant_node(node.outputs[0], proto_node)
            if constant is not None:
                constants[node.outputs[0]] = constant
        nodes.append(node)
    return Graph(
        name=proto.name,
        nodes=nodes,
        inputs=[_value_info(info) for info in proto.input],
        outputs=[_value_info(info) for info in proto.output],
        constants=constants,
    )


# AttributeProto.AttributeType values (onnx.proto)
_FLOAT, _INT, _STRING, _TENSOR, _GRAPH, _FLOATS, _INTS, _GRAPHS = 1, 2, 3, 4, 5, 6, 7, 10


def _node(proto: onnx.NodeProto, depth: int) -> Node:
    attributes: dict[str, Any] = {}
    subgraphs: dict[str, Graph] = {}
    for attribute in proto.attribute:
        kind = attribute.type
        if kind == _GRAPH and depth < MAX_DEPTH:
            subgraphs[attribute.name] = _graph(attribute.g, depth + 1)
        elif kind == _GRAPHS and depth < MAX_DEPTH:
            for index, graph in enumerate(attribute.graphs):
                subgraphs[f"{attribute.name}[{index}]"] = _graph(graph, depth + 1)
        elif kind == _INT:
            attributes[attribute.name] = int(attribute.i)
        elif kind == _FLOAT:
            attributes[attribute.name] = float(attribute.f)
        elif kind == _STRING:
            attributes[attribute.name] = attribute.s.decode("utf-8", "replace")
        elif kind == _INTS:
            attributes[attribute.name] = tuple(int(v) for v in attribute.ints)
        elif kind == _FLOATS:
            attributes[attribute.name] = tuple(float(v) for v in attribute.floats)
        elif kind == _TENSOR:
            attributes[attribute.name] = _constant(attribute.name, attribute.t)
    captures = captures_of(subgraphs.values()) if subgraphs else ()
    return Node(
        name=proto.name,
        op_type=proto.op_type,
        domain=proto.domain,
        inputs=tuple(proto.input),
        outputs=tuple(proto.output),
        attributes=attributes,
        subgraphs=subgraphs,
        captures=captures,
    )


def _constant_node(name: str, proto: onnx.NodeProto) -> Constant | None:
    for attribute in proto.attribute:
        if attribute.type == _TENSOR:
            return _constant(name, attribute.t)
        if attribute.type == _FLOAT:
            return _array_constant(name, np.array(attribute.f, dtype=np.float32))
        if attribute.type == _INT:
            return _array_constant(name, np.array(attribute.i, dtype=np.int64))
        if attribute.type == _FLOATS:
            return _array_constant(name, np.array(list(attribute.floats), dtype=np.float32))
        if attribute.type == _INTS:
            return _array_constant(name, np.array(list(attribute.ints), dtype=np.int64))
    return None


def _array_constant(name: str, array: np.ndarray[Any, Any]) -> Constant:
    return Constant(name, str(array.dtype), tuple(int(d) for d in array.shape), array)


def _constant(name: str, tensor: onnx.TensorProto) -> Constant:
    from onnx import TensorProto, numpy_helper

    shape = tuple(int(d) for d in tensor.dims)
    dtype = _dtype_name(tensor.data_type)
    size = int(np.prod(shape)) if shape else 1
    value = None
    if tensor.data_location != TensorProto.EXTERNAL and size <= MAX_CONSTANT_ELEMENTS:
        try:
            value = numpy_helper.to_array(tensor)
        except (ValueError, TypeError, KeyError):
            value = None
        if value is not None and value.dtype.kind not in NUMERIC_KINDS:
            value = None  # strings and other non-numeric tensors keep their shape only
    return Constant(name or tensor.name, dtype, shape, value)


def _value_info(info: onnx.ValueInfoProto) -> ValueInfo:
    tensor_type = info.type.tensor_type
    if not info.type.HasField("tensor_type"):
        return ValueInfo(info.name, "unknown", None)
    shape: tuple[int | str | None, ...] | None = None
    if tensor_type.HasField("shape"):
        shape = tuple(
            int(dim.dim_value) if dim.HasField("dim_value") else (dim.dim_param or None)
            for dim in tensor_type.shape.dim
        )
    return ValueInfo(info.name, _dtype_name(tensor_type.elem_type), shape)


def _dtype_name(data_type: int) -> str:
    from onnx import helper

    try:
        return str(np.dtype(helper.tensor_dtype_to_np_dtype(data_type)))
    except (KeyError, TypeError, ValueError):
        return "unknown"
