"""A small ONNX graph editor: emit nodes with unique names, opset-aware, then splice and re-sort.

The injectors describe their subgraph through ``Editor``; it hides the differences between
opsets (Slice and Reduce* take attributes before opset 10/13/18, inputs after).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import onnx
from onnx import helper, numpy_helper

from mlvet._internal.onnx_graphs import all_nodes
from mlvet.redteam import InjectError

_MIN_OPSET = 9
"""``Where`` appears in opset 9; older graphs are refused."""


class Editor:
    """Builds new nodes and initializers for a copy of a model; ``finish()`` returns the model."""

    def __init__(self, model: onnx.ModelProto, prefix: str) -> None:
        self.model = onnx.ModelProto()
        self.model.CopyFrom(model)
        self.graph = self.model.graph
        self.opset = _default_opset(self.model)
        if self.opset < _MIN_OPSET:
            raise InjectError(f"the model uses opset {self.opset}; the injector needs opset 9 or later")
        self.prefix = prefix
        self._taken = _all_names(self.graph)
        self._new_nodes: list[onnx.NodeProto] = []

    # -- names -----------------------------------------------------------------------------------

    def fresh(self, hint: str) -> str:
        """A tensor/node name starting with the prefix that nothing in the graph uses yet."""
        base = f"{self.prefix}{hint}"
        name, index = base, 1
        while name in self._taken:
            name = f"{base}_{index}"
            index += 1
        self._taken.add(name)
        return name

    # -- emitters --------------------------------------------------------------------------------

    def const(self, hint: str, value: npt.ArrayLike, dtype: npt.DTypeLike) -> str:
        name = self.fresh(hint)
        array = np.asarray(value, dtype=dtype)
        self.graph.initializer.append(numpy_helper.from_array(array, name))
        if self.model.ir_version < 4:  # before IR 4 every initializer is also a graph input
            elem_type = helper.np_dtype_to_tensor_dtype(array.dtype)
            self.graph.input.append(helper.make_tensor_value_info(name, elem_type, array.shape))
        return name

    def op(self, op_type: str, inputs: Sequence[str], hint: str, **attrs: object) -> str:
        """Emit one node with one output; returns the output name."""
        node_name = self.fresh(hint)
        out = self.fresh(f"{hint}_output_0")
        node = helper.make_node(op_type, list(inputs), [out], name=node_name)
        node.attribute.extend(helper.make_attribute(key, value) for key, value in attrs.items())
        self._new_nodes.append(node)
        return out

    def slice(self, x: str, starts: Sequence[int], ends: Sequence[int], axes: Sequence[int]) -> str:
        if self.opset < 10:
            return self.op("Slice", [x], "Slice", starts=list(starts), ends=list(ends), axes=list(axes))
        i64 = np.int64
        args = [
            x,
            self.const("Slice_starts", starts, i64),
            self.const("Slice_ends", ends, i64),
            self.const("Slice_axes", axes, i64),
        ]
        return self.op("Slice", args, "Slice")

    def reduce(self, op_type: str, x: str, axes: Sequence[int], *, keepdims: int = 1) -> str:
        """``ReduceMean``/``ReduceSum``/``ReduceProd``/``ReduceMin`` over ``axes``."""
        axes_as_input = self.opset >= (13 if op_type == "ReduceSum" else 18)
        if axes_as_input:
            axes_name = self.const(f"{op_type}_axes", list(axes), np.int64)
            return self.op(op_type, [x, axes_name], op_type, keepdims=keepdims)
        return self.op(op_type, [x], op_type, axes=list(axes), keepdims=keepdims)

    def reshape(self, x: str, shape: Sequence[int]) -> str:
        return self.op("Reshape", [x, self.const("Reshape_shape", list(shape), np.int64)], "Reshape")

    def cast(self, x: str, to: int) -> str:
        return self.op("Cast", [x], "Cast", to=to)

    # -- splicing --------------------------------------------------------------------------------

    def detach(self, tensor: str, internal_hint: str) -> str:
        """Rename ``tensor`` at its producer only; return the new internal name.

        Afterwards ``tensor`` is free to be produced again by an injected node, so every reader and
        the graph output of that name see the injected value.
        """
        producer = next((node for node in self.graph.node if tensor in node.output), None)
        if producer is None:
            raise InjectError(f"tensor {tensor!r} is not produced by a node (a graph input or initializer)")
        internal = self.fresh(internal_hint)
        for index, name in enumerate(producer.output):
            if name == tensor:
                producer.output[index] = internal
        return internal

    def produce(self, tensor: str, op_type: str, inputs: Sequence[str], hint: str, **attrs: object) -> None:
        """Emit the node whose output is exactly ``tensor`` (freed earlier by ``detach``)."""
        node_name = self.fresh(hint)
        node = helper.make_node(op_type, list(inputs), [tensor], name=node_name)
        node.attribute.extend(helper.make_attribute(key, value) for key, value in attrs.items())
        self._new_nodes.append(node)

    def finish(self) -> onnx.ModelProto:
        """Append the new nodes, restore a topological order, check the model and return it."""
        nodes = [*self.graph.node, *self._new_nodes]
        del self.graph.node[:]
        self.graph.node.extend(_topological(nodes, self.graph))
        try:
            onnx.checker.check_model(self.model)
        except Exception as exc:  # ValidationError, or a decoding error from a damaged input
            raise InjectError(f"the injected model does not validate: {str(exc).splitlines()[0]}") from exc
        return self.model


def onnx_type(dtype: np.dtype[np.generic]) -> int:
    """The ``TensorProto`` element type of a numpy dtype."""
    return int(helper.np_dtype_to_tensor_dtype(dtype))


def _default_opset(model: onnx.ModelProto) -> int:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    raise InjectError("the model imports no default-domain opset")


def _all_names(graph: onnx.GraphProto) -> set[str]:
    names = {v.name for v in (*graph.input, *graph.output, *graph.value_info)}
    names.update(init.name for init in graph.initializer)
    for node in all_nodes(graph):
        names.update(node.input)
        names.update(node.output)
        names.add(node.name)
    names.discard("")
    return names


def _reads(node: onnx.NodeProto) -> set[str]:
    """Names a node needs before it runs: inputs plus outer names its subgraphs capture."""
    needed = {name for name in node.input if name}
    for attr in node.attribute:
        subgraphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
        for sub in subgraphs:
            local = _all_outputs(sub) | {v.name for v in sub.input} | {i.name for i in sub.initializer}
            for inner in all_nodes(sub):
                needed.update(name for name in inner.input if name and name not in local)
    return needed


def _all_outputs(graph: onnx.GraphProto) -> set[str]:
    return {name for node in all_nodes(graph) for name in node.output}


def _topological(nodes: list[onnx.NodeProto], graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """Kahn's algorithm, keeping the original order wherever the data flow allows it."""
    producer: dict[str, int] = {}
    for index, node in enumerate(nodes):
        for name in node.output:
            producer[name] = index
    waiting: list[set[int]] = []
    for index, node in enumerate(nodes):
        waiting.append({producer[name] for name in _reads(node) if name in producer} - {index})
    readers: dict[int, list[int]] = {i: [] for i in range(len(nodes))}
    for index, deps in enumerate(waiting):
        for dep in deps:
            readers[dep].append(index)
    ready = sorted(i for i, deps in enumerate(waiting) if not deps)
    order: list[int] = []
    heapq.heapify(ready)
    while ready:
        index = heapq.heappop(ready)
        order.append(index)
        for reader in readers[index]:
            waiting[reader].discard(index)
            if not waiting[reader]:
                heapq.heappush(ready, reader)
    if len(order) != len(nodes):
        raise InjectError(f"graph {graph.name!r} has a cycle; it cannot be edited")
    return [nodes[i] for i in order]
