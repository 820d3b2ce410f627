"""TensorFlow ``GraphDef`` wire bytes -> ``Graph``: TF ops mapped onto the IR's ONNX-style op types.

The main graph and every library function become one ``Graph`` each (function arguments are its
inputs, its ``ret`` values its outputs); ``If``/``StatelessIf`` branches are imported as subgraphs
reading the outer values they are passed, and ``PartitionedCall``/``StatefulPartitionedCall`` are
inlined (the function's nodes take the call's place, named ``<call>/<node>``), so a trigger made
on one side of a call and applied on the other is seen whole; called functions are not imported
again on their own. Resource variables are weights: constants of unknown
value. Ops without an ONNX counterpart stay opaque (``tf:<op>``). The messages are read by
``mlvet.graph.tf_wire``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlvet.graph.ir import Constant, Graph, Node, ValueInfo, captures_of
from mlvet.graph.tf_ops import (
    CALL_OPS,
    INPUT_OPS,
    NOT_OUTPUTS,
    ONNX_CODES,
    RANDOM,
    REDUCTIONS,
    RENAMED,
    SAME,
    VARIABLE_OPS,
    function_names,
)
from mlvet.graph.tf_wire import (
    TfFunction,
    TfNode,
    attr_func,
    attr_int,
    attr_ints,
    attr_shape,
    constant_dims,
    dtype_name,
    messages,
    parse_function,
    parse_node,
    tensor_constant,
    tensor_field,
)

MAX_BRANCH_DEPTH = 8
MAX_IMPORTED_NODES = 1 << 21
"""Nodes imported in all (If branches are copied per use): more leaves the deepest branches out."""
_END = int(np.iinfo(np.int64).max)


def import_graph_def(
    data: bytes | memoryview,
    *,
    skip_node: Callable[[str], bool] | None = None,
    skip_functions: Collection[str] = (),
    outputs: Collection[str] = (),
) -> list[Graph]:
    """The main graph, then each library function not skipped and not an If branch.

    ``skip_node`` leaves out main-graph nodes by name (the saver). ``outputs`` are tensor names
    (``node:0``, a SavedModel's signature outputs): the main graph keeps only what they read.
    Without them, values nothing reads are the outputs. Raises ``WireError`` (a ``ValueError``)
    when the bytes are not a well-formed protobuf message.
    """
    nodes = [parse_node(item) for item in messages(memoryview(data), 1)]
    library: dict[str, TfFunction] = {}
    for item in messages(memoryview(data), 2):
        for function in messages(item, 1):
            parsed = parse_function(function)
            library.setdefault(parsed.name, parsed)
    skip = skip_node or (lambda _: False)
    budget = _Budget()
    main = _Importer(library, budget, in_function=False).graph(
        "graph", [n for n in nodes if not skip(n.name)], list(outputs)
    )
    bodies = [nodes, *(function.nodes for function in library.values())]
    branches = {
        name for body in bodies for kind in ("branches", "calls") for name in function_names(kind, body)
    }
    graphs = [main]
    for name, body in library.items():
        if name in skip_functions or name in branches:
            continue
        graphs.append(_Importer(library, budget, in_function=True).function(body))
    return graphs


@dataclass
class _Budget:
    nodes: int = MAX_IMPORTED_NODES


class _Importer:
    """Converts one container (the graph, a function or an If branch) into a ``Graph``."""

    def __init__(
        self,
        library: dict[str, TfFunction],
        budget: _Budget,
        *,
        in_function: bool,
        prefix: str = "",
        bound: dict[str, str] | None = None,
        depth: int = 0,
    ) -> None:
        self.library, self.budget, self.in_function = library, budget, in_function
        self.prefix, self.bound, self.depth = prefix, bound or {}, depth
        self.nodes: list[Node] = []
        self.constants: dict[str, Constant] = {}
        self.inputs: list[ValueInfo] = []
        self.outputs_of: dict[str, list[str]] = {}
        self.first_output: dict[str, str] = {}
        """A function node's first output reference (``n:output:0``) -> its value name (``n``)."""

    def function(self, function: TfFunction) -> Graph:
        for arg, dtype in function.args:
            name = self.value(arg)
            if dtype_name(dtype) == "resource":
                self.constants[name] = Constant(name, "resource", (), None)
            else:
                self.inputs.append(ValueInfo(name, dtype_name(dtype), None))
        return self.graph(function.name, function.nodes, function.ret)

    def graph(self, name: str, nodes: list[TfNode], ret: list[str] | None = None) -> Graph:
        self._index_outputs(nodes, ret or [])
        for node in nodes:
            if self.budget.nodes <= 0:
                break
            self.budget.nodes -= 1
            self._convert(node)
        produced = {value for node in self.nodes for value in node.outputs}
        named = [self.value(ref) for ref in ret or () if not ref.startswith("^")]
        if self.in_function or any(value in produced for value in named):
            outputs = [ValueInfo(value, "unknown") for value in named]
            if not self.in_function:
                self.nodes = _ancestors(self.nodes, named)
        else:
            read = {value for node in self.nodes for value in (*node.inputs, *node.captures)}
            outputs = [
                ValueInfo(node.outputs[0], "unknown")
                for node in self.nodes
                if node.outputs
                and node.outputs[0] not in read
                and node.op_type.removeprefix("tf:") not in NOT_OUTPUTS
            ]
        return Graph(name, self.nodes, self.inputs, outputs, self.constants)

    # names -----------------------------------------------------------------------------------

    def value(self, ref: str) -> str:
        """The IR value a TF reference names: ``n``/``n:0``/a function node's first output -> ``n``."""
        parts = ref.split(":")
        if parts[0] in self.bound and len(parts) == 1:
            return self.bound[parts[0]]
        if len(parts) == 2 and parts[1] in ("", "0"):
            return self.prefix + parts[0]
        return self.first_output.get(ref, self.prefix + ref)

    def _index_outputs(self, nodes: list[TfNode], ret: list[str]) -> None:
        """Each node's output values, port 0 first (function outputs are named ``n:arg:k``)."""
        names = {node.name for node in nodes}
        seen: dict[str, dict[str, None]] = {}
        for ref in (*(r for node in nodes for r in node.inputs), *ret):
            if ref.startswith("^"):
                continue
            parts = ref.split(":")
            if parts[0] in names and len(parts) > 1:
                seen.setdefault(parts[0], {})[self.value(ref)] = None
        for name in names:
            first = self.prefix + name
            found = [v for v in seen.get(name, {}) if v != first]
            if self.in_function and found:
                found.sort(key=lambda v: not v.endswith(":0"))
                self.first_output[found[0].removeprefix(self.prefix)] = first  # n:output:0 -> n
                found = found[1:]
            self.outputs_of[name] = [first, *found]

    # conversion ------------------------------------------------------------------------------

    def _convert(self, tf: TfNode) -> None:
        op = tf.op
        outputs = self.outputs_of.get(tf.name) or [self.prefix + tf.name]
        out = outputs[0]
        inputs = [self.value(ref) for ref in tf.inputs if not ref.startswith("^")]
        if op in INPUT_OPS:
            shape = attr_shape(tf, "shape")
            dims = None if shape is None else tuple(d if d >= 0 else None for d in shape)
            self.inputs.append(ValueInfo(out, dtype_name(attr_int(tf, "dtype")), dims))
        elif op == "Const":
            tensor = tf.attrs.get("value")
            found = tensor_field(tensor) if tensor is not None else None
            self.constants[out] = (
                tensor_constant(out, found) if found is not None else Constant(out, "unknown", (), None)
            )
        elif op in VARIABLE_OPS:
            dims = constant_dims(attr_shape(tf, "shape") or ())
            self.constants[out] = Constant(out, dtype_name(attr_int(tf, "dtype")), dims, None)
        elif op == "ReadVariableOp" and inputs and inputs[0] in self.constants:
            source = self.constants[inputs[0]]
            self.constants[out] = Constant(out, dtype_name(attr_int(tf, "dtype")), source.shape, None)
        elif op in RANDOM and inputs and inputs[0] not in self.constants:
            # noise shaped like an activation (dropout, Gaussian noise of training-mode functions)
            self._emit(tf.name, f"tf:{op}", inputs, outputs, domain="tensorflow")
        elif op in CALL_OPS and self._call(tf, inputs, outputs):
            return
        elif op in SAME or op in RENAMED:
            self._known(tf, RENAMED.get(op, op), inputs, outputs)
        else:
            self._emit(tf.name, f"tf:{op}", inputs, outputs, domain="tensorflow")

    def _known(self, tf: TfNode, op: str, inputs: list[str], outputs: list[str]) -> None:
        out, name = outputs[0], tf.name
        attributes: dict[str, Any] = {}
        if op == "Cast":
            attributes["to"] = ONNX_CODES.get(dtype_name(attr_int(tf, "DstT")), 0)
        elif op in REDUCTIONS:
            attributes["keepdims"] = int(bool(attr_int(tf, "keep_dims")))
        elif op == "Squeeze":
            axes = attr_ints(tf, "squeeze_dims")
            if axes:
                attributes["axes"] = tuple(axes)
        elif op in ("Concat", "ConcatV2", "Pack"):
            axis_ref = inputs[-1:] if op == "ConcatV2" else inputs[:1] if op == "Concat" else []
            data = inputs[:-1] if op == "ConcatV2" else inputs[1:] if op == "Concat" else inputs
            axis = self._const(axis_ref[0]) if axis_ref else attr_int(tf, "axis")
            attributes["axis"] = (
                int(np.asarray(axis).reshape(-1)[0]) if axis is not None and np.size(axis) else 0
            )
            op, inputs = "Concat", data
        elif op == "Square" and inputs:
            op, inputs = "Mul", [inputs[0], inputs[0]]
        elif op == "NotEqual":
            self._emit(name, "Equal", inputs, [f"{out}/equal"])
            op, inputs = "Not", [f"{out}/equal"]
        elif op in ("ZerosLike", "OnesLike") and inputs:
            self._emit(name, "Shape", inputs[:1], [f"{out}/shape"])
            op, inputs = "ConstantOfShape", [f"{out}/shape"]
        elif op == "Fill" and len(inputs) == 2:
            op, inputs = "Expand", [inputs[1], inputs[0]]
        elif op == "Conv2DBackpropInput":
            op, inputs = "ConvTranspose", inputs[2:3] + inputs[1:2]
        elif op == "Gather":
            op, inputs, attributes = self._gather(tf, inputs)
        elif op == "StridedSlice":
            self._strided_slice(tf, inputs, outputs)
            return
        elif op == "Slice" and len(inputs) == 3:
            begin, size = self._const(inputs[1]), self._const(inputs[2])
            if begin is not None and size is not None and begin.shape == size.shape and begin.ndim == 1:
                ends = np.where(size < 0, _END, begin + size)
                inputs = [
                    inputs[0],
                    *self._params(out, begin, ends, np.arange(begin.size), np.ones_like(begin)),
                ]
        elif op in ("If", "StatelessIf"):
            self._if(tf, inputs, outputs)
            return
        self._emit(name, op, inputs, outputs, attributes)

    def _call(self, tf: TfNode, inputs: list[str], outputs: list[str]) -> bool:
        """Inline the function a (Stateful)PartitionedCall runs; False when it stays opaque."""
        function = self.library.get(attr_func(tf, "f"))
        if function is None or self.depth >= MAX_BRANCH_DEPTH or self.budget.nodes <= len(function.nodes):
            return False
        bound = {arg: value for (arg, _), value in zip(function.args, inputs, strict=False)}
        inner = _Importer(
            self.library,
            self.budget,
            in_function=True,
            prefix=f"{self.prefix}{tf.name}/",
            bound=bound,
            depth=self.depth + 1,
        )
        inner.constants.update({v: self.constants[v] for v in bound.values() if v in self.constants})
        body = inner.graph(f"{tf.name}", function.nodes, function.ret)
        for node in body.nodes:  # two calls of one function must not share node names
            node.name = f"{self.prefix}{tf.name}/{node.name}"
        self.nodes.extend(body.nodes)
        self.constants.update(body.constants)
        for index, result in enumerate(body.outputs):
            target = self._call_output(tf.name, outputs, index)
            if target and target != result.name:
                self._emit(f"{tf.name}/output_{index}", "Identity", [result.name], [target])
        return True

    def _call_output(self, name: str, outputs: list[str], index: int) -> str:
        """The value the call's ``index``-th output is read as (``call``, ``call:1``...)."""
        if index == 0:
            return outputs[0]
        if not self.in_function:
            return f"{self.prefix}{name}:{index}"
        return next((value for value in outputs[1:] if value.endswith(f":{index}")), "")

    def _gather(self, tf: TfNode, inputs: list[str]) -> tuple[str, list[str], dict[str, Any]]:
        axis = self._const(inputs[2]) if tf.op == "GatherV2" and len(inputs) > 2 else None
        attributes = {"axis": int(axis.reshape(-1)[0]) if axis is not None and axis.size else 0}
        table = self.constants.get(inputs[0]) if inputs else None
        if table is not None and table.value is None and len(table.shape) < 2:
            name = f"{self.prefix}{tf.name}/table"  # a weight variable of unknown shape: an embedding
            self.constants[name] = Constant(name, table.dtype, (0, 0), None)
            inputs = [name, *inputs[1:]]
        return "Gather", inputs[:2], attributes

    def _strided_slice(self, tf: TfNode, inputs: list[str], outputs: list[str]) -> None:
        out = outputs[0]
        consts = [self._const(name) for name in inputs[1:4]]
        masks = {key: attr_int(tf, key) for key in ("begin_mask", "end_mask", "shrink_axis_mask")}
        plain = not attr_int(tf, "ellipsis_mask") and not attr_int(tf, "new_axis_mask")
        if len(inputs) != 4 or not plain or any(c is None or c.ndim != 1 for c in consts):
            self._emit(tf.name, "Slice", inputs[:1], outputs)
            return
        begin, end, strides = (np.asarray(c, dtype=np.int64) for c in consts if c is not None)
        if not begin.size == end.size == strides.size:
            self._emit(tf.name, "Slice", inputs[:1], outputs)
            return
        spans: list[tuple[int, int, int, int]] = []
        shrink: list[tuple[int, int]] = []
        for axis in range(begin.size):
            bit = 1 << axis
            start = 0 if masks["begin_mask"] & bit else int(begin[axis])
            stop = _END if masks["end_mask"] & bit else int(end[axis])
            if masks["shrink_axis_mask"] & bit:
                shrink.append((axis, int(begin[axis])))
            else:
                spans.append((start, stop, axis, int(strides[axis])))
        current = inputs[0]
        final = out if not shrink else f"{out}/slice"
        if spans:
            starts, stops, axes, steps = (
                np.array(column, dtype=np.int64) for column in zip(*spans, strict=True)
            )
            self._emit(tf.name, "Slice", [current, *self._params(out, starts, stops, axes, steps)], [final])
            current = final
        for position, (axis, index) in enumerate(sorted(shrink, reverse=True)):
            target = out if position == len(shrink) - 1 else f"{out}/shrink{axis}"
            index_name = f"{out}/index{axis}"
            self.constants[index_name] = Constant(index_name, "int64", (), np.array(index, dtype=np.int64))
            self._emit(tf.name, "Gather", [current, index_name], [target], {"axis": axis})
            current = target

    def _params(self, out: str, *arrays: Any) -> list[str]:
        names = []
        for label, array in zip(("starts", "ends", "axes", "steps"), arrays, strict=False):
            name = f"{out}/{label}"
            value = np.asarray(array, dtype=np.int64)
            self.constants[name] = Constant(name, "int64", value.shape, value)
            names.append(name)
        return names

    def _if(self, tf: TfNode, inputs: list[str], outputs: list[str]) -> None:
        subgraphs: dict[str, Graph] = {}
        for key in ("then_branch", "else_branch"):
            function = self.library.get(attr_func(tf, key))
            if function is None or self.depth >= MAX_BRANCH_DEPTH or self.budget.nodes <= 0:
                continue
            bound = {arg: value for (arg, _), value in zip(function.args, inputs[1:], strict=False)}
            inner = _Importer(
                self.library,
                self.budget,
                in_function=True,
                prefix=f"{self.prefix}{tf.name}/{key}/",
                bound=bound,
                depth=self.depth + 1,
            )
            subgraphs[key] = inner.graph(f"{tf.name}/{key}", function.nodes, function.ret)
        node = Node(tf.name, "If", "", tuple(inputs[:1]), tuple(outputs), {}, subgraphs)
        node.captures = captures_of(subgraphs.values()) if subgraphs else tuple(inputs[1:])
        self.nodes.append(node)

    def _emit(
        self,
        name: str,
        op: str,
        inputs: list[str],
        outputs: list[str],
        attributes: dict[str, Any] | None = None,
        domain: str = "",
    ) -> None:
        self.nodes.append(Node(name, op, domain, tuple(inputs), tuple(outputs), attributes or {}))

    def _const(self, value: str) -> Any:
        stored = self.constants.get(value)
        return None if stored is None else stored.value


def _ancestors(nodes: list[Node], outputs: list[str]) -> list[Node]:
    """The nodes ``outputs`` depend on (training and saver subgraphs of a SavedModel fall away)."""
    producer = {value: index for index, node in enumerate(nodes) for value in node.outputs if value}
    keep: set[int] = set()
    pending = [producer[value] for value in outputs if value in producer]
    while pending:
        index = pending.pop()
        if index in keep:
            continue
        keep.add(index)
        node = nodes[index]
        pending.extend(producer[value] for value in (*node.inputs, *node.captures) if value in producer)
    return [node for index, node in enumerate(nodes) if index in keep]
