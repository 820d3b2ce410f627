"""ONNX ``ModelProto`` bytes -> ``Graph``, with the ``onnx`` package's protobuf classes.

External tensor data is never opened: such tensors keep their shape and dtype only, as do
tensors larger than ``MAX_CONSTANT_ELEMENTS``. Calls to the model's own functions
(``FunctionProto``) are inlined (``onnx_functions``): the function's nodes take the call's place,
their values renamed ``<call>/<name>``, so a trigger built inside a function is analysed like one
built in the graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mlvet.graph.ir import MAX_CONSTANT_ELEMENTS, Constant, Graph, Node, ValueInfo, captures_of
from mlvet.graph.onnx_functions import Call, Inliner, node_label, resolved_attributes, text

if TYPE_CHECKING:
    import onnx

NUMERIC_KINDS = frozenset("biuf")
"""numpy dtype kinds kept as values: bool, signed, unsigned, float."""
MAX_DEPTH = 32
"""Subgraphs nested deeper than this are not imported."""


def import_onnx(data: bytes) -> Graph:
    """The main graph of the serialized model ``data``; ``ValueError`` when it does not parse."""
    return import_model(parse_model(data))


def parse_model(data: bytes) -> onnx.ModelProto:
    """``data`` parsed by the ``onnx`` package; ``ValueError`` when it does not parse."""
    import onnx
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

    try:
        model: onnx.ModelProto = onnx.ModelProto.FromString(bytes(data))
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ValueError(f"not an ONNX model: {exc}") from None
    return model


def import_model(model: onnx.ModelProto) -> Graph:
    """The main graph of an already parsed model, with calls to its local functions inlined."""
    return _Importer(Inliner.of(model)).graph(model.graph, 0)


# AttributeProto.AttributeType values (onnx.proto)
_FLOAT, _INT, _STRING, _TENSOR, _GRAPH, _FLOATS, _INTS, _GRAPHS = 1, 2, 3, 4, 5, 6, 7, 10


class _Importer:
    def __init__(self, inliner: Inliner) -> None:
        self.inliner = inliner

    def graph(self, proto: onnx.GraphProto, depth: int) -> Graph:
        constants: dict[str, Constant] = {}
        for tensor in proto.initializer:
            constants[text(tensor.name)] = _constant(text(tensor.name), tensor)
        for sparse in proto.sparse_initializer:
            name = text(sparse.values.name)
            constants[name] = Constant(name, _dtype_name(sparse.values.data_type), tuple(sparse.dims), None)
        nodes: list[Node] = []
        self.nodes(proto.node, depth, None, nodes, constants)
        return Graph(
            name=text(proto.name),
            nodes=nodes,
            inputs=[_value_info(info) for info in proto.input],
            outputs=[_value_info(info) for info in proto.output],
            constants=constants,
        )

    def nodes(
        self,
        protos: Any,
        depth: int,
        call: Call | None,
        nodes: list[Node],
        constants: dict[str, Constant],
    ) -> None:
        """Convert ``protos`` into ``nodes``, inlining calls to local functions (``onnx_functions``)."""
        for proto_node in protos:
            function = self.inliner.function_of(proto_node)
            if function is not None:
                inner = self.inliner.enter(function, proto_node, node_label(proto_node, call), call)
                if inner is not None:
                    self.nodes(function.node, depth, inner, nodes, constants)
                    continue
            node = self.node(proto_node, depth, call)
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and node.outputs:
                constant = _constant_node(node.outputs[0], list(resolved_attributes(proto_node, call)))
                if constant is not None:
                    constants[node.outputs[0]] = constant
            nodes.append(node)

    def node(self, proto: onnx.NodeProto, depth: int, call: Call | None) -> Node:
        attributes: dict[str, Any] = {}
        subgraphs: dict[str, Graph] = {}
        for attribute in resolved_attributes(proto, call):
            kind, key = attribute.type, text(attribute.name)
            if kind == _GRAPH and depth < MAX_DEPTH:
                subgraphs[key] = self.graph(attribute.g, depth + 1)
            elif kind == _GRAPHS and depth < MAX_DEPTH:
                for index, graph in enumerate(attribute.graphs):
                    subgraphs[f"{key}[{index}]"] = self.graph(graph, depth + 1)
            elif kind == _INT:
                attributes[key] = int(attribute.i)
            elif kind == _FLOAT:
                attributes[key] = float(attribute.f)
            elif kind == _STRING:
                attributes[key] = attribute.s.decode("utf-8", "replace")
            elif kind == _INTS:
                attributes[key] = tuple(int(v) for v in attribute.ints)
            elif kind == _FLOATS:
                attributes[key] = tuple(float(v) for v in attribute.floats)
            elif kind == _TENSOR:
                attributes[key] = _constant(key, attribute.t)
        rename = call.rename if call is not None else {}
        if rename and subgraphs:
            subgraphs = {key: _rename_graph(graph, rename) for key, graph in subgraphs.items()}
        name = text(proto.name)
        return Node(
            name=(call.prefix + name if call is not None and name else name),
            op_type=text(proto.op_type),
            domain=text(proto.domain),
            inputs=tuple(rename.get(n, n) for n in _names(proto.input)) if rename else _names(proto.input),
            outputs=tuple(rename.get(n, n) for n in _names(proto.output)) if rename else _names(proto.output),
            attributes=attributes,
            subgraphs=subgraphs,
            captures=captures_of(subgraphs.values()) if subgraphs else (),
        )


def _names(values: Any) -> tuple[str, ...]:
    """Value names as text (upb hands back bytes for a name that is not UTF-8)."""
    names = tuple(values)
    return names if all(type(name) is str for name in names) else tuple(text(name) for name in names)


def _rename_graph(graph: Graph, rename: dict[str, str]) -> Graph:
    """``graph`` (a subgraph inside a function) reading the caller's names for the function's values."""
    for inner in graph.walk():
        for node in inner.nodes:
            node.inputs = tuple(rename.get(name, name) for name in node.inputs)
            node.captures = tuple(rename.get(name, name) for name in node.captures)
        inner.outputs = [
            ValueInfo(rename.get(info.name, info.name), info.elem_type, info.shape) for info in inner.outputs
        ]
        inner.reindex()
    return graph


def _constant_node(name: str, attributes: list[onnx.AttributeProto]) -> Constant | None:
    for attribute in attributes:
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
    return Constant(name or text(tensor.name), dtype, shape, value)


def _value_info(info: onnx.ValueInfoProto) -> ValueInfo:
    tensor_type = info.type.tensor_type
    if not info.type.HasField("tensor_type"):
        return ValueInfo(text(info.name), "unknown", None)
    shape: tuple[int | str | None, ...] | None = None
    if tensor_type.HasField("shape"):
        shape = tuple(
            int(dim.dim_value) if dim.HasField("dim_value") else (text(dim.dim_param) or None)
            for dim in tensor_type.shape.dim
        )
    return ValueInfo(text(info.name), _dtype_name(tensor_type.elem_type), shape)


def _dtype_name(data_type: int) -> str:
    from onnx import helper

    try:
        return str(np.dtype(helper.tensor_dtype_to_np_dtype(data_type)))
    except (KeyError, TypeError, ValueError):
        return "unknown"
