"""Static shapes of a graph's values, propagated from its input and constant shapes.

Used to tell an element-wise mask (its condition has the input's extent) from a per-sample decision
(a reduction or a broadcast of one flag). Only what the graph states is used; anything not modelled
gives None (unknown).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlvet.graph.ir import Node

if TYPE_CHECKING:
    from mlvet.graph.dataflow import Facts

Dim = int | str | None
"""A dimension: its size, a symbolic name, or None when unknown."""
Shape = tuple[Dim, ...]

_ELEMENTWISE = frozenset(
    {
        "Cast", "CastLike", "Identity", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Not", "Neg", "Abs", "Exp",
        "Log", "Sqrt", "Erf", "Clip", "IsNaN", "IsInf", "Softmax", "LogSoftmax", "Dropout", "Gelu",
        "BatchNormalization", "InstanceNormalization", "LayerNormalization", "HardSigmoid", "Softplus",
    }
)  # fmt: skip
_BROADCAST = frozenset(
    {
        "Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "Equal", "Greater", "Less", "GreaterOrEqual",
        "LessOrEqual", "Where", "Max", "Min", "Sum", "Mod",
    }
)  # fmt: skip
_REDUCE = frozenset(
    {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
     "ReduceLogSumExp", "ReduceSumSquare"}
)  # fmt: skip
_END = 1 << 40


class Shapes:
    """Static shapes of values, propagated from the graph inputs through common operations.

    Only what the graph states is used (input shapes, constant shapes, constant operands); any
    operation not modelled, or an operand that cannot be read, gives None (unknown shape).
    """

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.graph = facts.graph
        self._memo: dict[str, Shape | None] = {}
        self._next = 0
        """Index of the first node whose output shapes are not computed yet (nodes are in order)."""

    def of(self, value: str) -> Shape | None:
        """The shape of ``value``, or None when it is unknown (a forward pass up to its producer)."""
        if value in self._memo:
            return self._memo[value]
        stored = self.graph.constants.get(value)
        info = self.graph.input_info(value)
        if stored is not None or info is not None:
            result = tuple(stored.shape) if stored is not None else info.shape if info is not None else None
            self._memo[value] = result
            return result
        index = self.graph.producer.get(value)
        if index is None:
            return None
        while self._next <= index:
            node = self.graph.nodes[self._next]
            self._next += 1
            shape: Shape | None = None
            if node.inputs and not node.subgraphs:
                try:
                    shape = self._infer(node)
                except (ValueError, TypeError, IndexError, OverflowError, ZeroDivisionError):
                    shape = None
            for position, name in enumerate(node.outputs):
                if name and name not in self._memo and name not in self.graph.constants:
                    self._memo[name] = shape if position == 0 else None
        return self._memo.get(value)

    def _infer(self, node: Node) -> Shape | None:
        op, first = node.op_type, node.inputs[0]
        if op in _ELEMENTWISE:
            return self.of(first)
        if op in _BROADCAST:
            shapes = [self.of(name) for name in node.inputs if name]
            known = [shape for shape in shapes if shape is not None]
            return broadcast(known) if len(known) == len(shapes) else None
        source = self.of(first)
        if source is None:
            return None
        if op == "Slice":
            return self._slice(node, source)
        if op == "Gather":
            indices = self.facts.constant(node.inputs[1]) if len(node.inputs) > 1 else None
            if indices is None:
                return None
            axis = int(node.attributes.get("axis", 0)) % len(source)
            return (*source[:axis], *indices.shape, *source[axis + 1 :])
        if op in ("Unsqueeze", "Squeeze"):
            axes = self._axes(node)
            if op == "Squeeze":
                if axes is None:
                    return tuple(d for d in source if d != 1)
                drop = {a % len(source) for a in axes}
                return tuple(d for index, d in enumerate(source) if index not in drop)
            if axes is None:
                return None
            out: list[Dim] = list(source)
            for axis in sorted(a % (len(source) + len(axes)) for a in axes):
                out.insert(axis, 1)
            return tuple(out)
        if op == "Flatten":
            axis = int(node.attributes.get("axis", 1)) % (len(source) + 1)
            return (_product(source[:axis]), _product(source[axis:]))
        if op in ("Reshape", "Expand", "Resize"):
            return self._reshaped(node, source)
        if op in _REDUCE:
            return self._reduced(node, source)
        if op in ("GlobalAveragePool", "GlobalMaxPool"):
            return (*source[:2], *(1 for _ in source[2:]))
        if op == "Conv":
            return self._conv(node, source)
        return None

    def _axes(self, node: Node) -> tuple[int, ...] | None:
        if "axes" in node.attributes:
            return tuple(int(a) for a in node.attributes["axes"])
        if len(node.inputs) > 1 and node.inputs[1]:
            axes = self.facts.constant(node.inputs[1])
            return None if axes is None else tuple(int(a) for a in axes.reshape(-1))
        return None

    def _slice(self, node: Node, source: Shape) -> Shape | None:
        params = [self.facts.constant(name) if name else None for name in node.inputs[1:5]]
        if len(params) < 2 or params[0] is None or params[1] is None:
            return None
        starts, ends = params[0].reshape(-1), params[1].reshape(-1)
        axes = params[2].reshape(-1) if len(params) > 2 and params[2] is not None else range(len(starts))
        steps = params[3].reshape(-1) if len(params) > 3 and params[3] is not None else [1] * len(starts)
        out: list[Dim] = list(source)
        for start, end, axis, step in zip(starts, ends, axes, steps, strict=False):
            position = int(axis) % len(source)
            size = source[position]
            if int(start) == 0 and int(end) >= _END and int(step) == 1:
                continue
            out[position] = (
                len(range(size)[int(start) : int(end) : int(step)]) if isinstance(size, int) else None
            )
        return tuple(out)

    def _reshaped(self, node: Node, source: Shape) -> Shape | None:
        op = node.op_type
        target_name = node.inputs[3] if op == "Resize" and len(node.inputs) > 3 else node.inputs[-1]
        target = self.values(target_name) if len(node.inputs) > 1 and target_name else None
        if op == "Expand":
            return None if target is None else broadcast([source, tuple(target)])
        if op == "Resize":
            if target is not None and len(target) == len(source):
                return tuple(target)
            scales = self.facts.constant(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
            if scales is None or scales.size != len(source):
                return tuple(None for _ in source)
            return tuple(
                int(d * float(s)) if isinstance(d, int) else (d if float(s) == 1 else None)
                for d, s in zip(source, scales.reshape(-1), strict=True)
            )
        if target is None:
            return None
        out = [source[i] if d == 0 and i < len(source) else d for i, d in enumerate(target)]
        if -1 in out:
            return tuple(None if d == -1 else d for d in out)
        return tuple(out)

    def _reduced(self, node: Node, source: Shape) -> Shape:
        axes = self._axes(node)
        keep = int(node.attributes.get("keepdims", 1))
        if axes is None:
            axes = () if int(node.attributes.get("noop_with_empty_axes", 0)) else tuple(range(len(source)))
        chosen = {a % len(source) for a in axes}
        return tuple(
            1 if index in chosen else d for index, d in enumerate(source) if keep or index not in chosen
        )

    def _conv(self, node: Node, source: Shape) -> Shape | None:
        weight = self.of(node.inputs[1]) if len(node.inputs) > 1 else None
        if (
            weight is None
            or len(weight) != len(source)
            or str(node.attributes.get("auto_pad", "NOTSET"))
            not in (
                "NOTSET",
                "b'NOTSET'",
                "VALID",
            )
        ):
            return None
        spatial = len(source) - 2
        pads = list(node.attributes.get("pads", [0] * 2 * spatial))
        strides = list(node.attributes.get("strides", [1] * spatial))
        dilations = list(node.attributes.get("dilations", [1] * spatial))
        out: list[Dim] = [source[0], weight[0]]
        for index in range(spatial):
            size, kernel = source[2 + index], weight[2 + index]
            if not isinstance(size, int) or not isinstance(kernel, int):
                out.append(None)
                continue
            span = (
                size
                + int(pads[index])
                + int(pads[index + spatial])
                - int(dilations[index]) * (kernel - 1)
                - 1
            )
            out.append(span // int(strides[index]) + 1)
        return tuple(out)

    def values(self, value: str, depth: int = 0) -> list[Dim] | None:
        """The elements of a 1-D shape tensor (``Shape``/``Slice``/``Concat``/``Gather`` of shapes)."""
        constant = self.facts.constant(value)
        if constant is not None:
            return [int(v) for v in constant.reshape(-1)] if constant.dtype.kind in "iu" else None
        node = self.graph.producer_of(value)
        if node is None or not node.inputs or depth > 16:
            return None
        op = node.op_type
        if op == "Shape":
            shape = self.of(node.inputs[0])
            if shape is None:
                return None
            start, end = int(node.attributes.get("start", 0)), node.attributes.get("end")
            return list(shape[start : None if end is None else int(end)])
        if op in ("Cast", "Identity", "Unsqueeze", "Squeeze"):
            return self.values(node.inputs[0], depth + 1)
        if op == "Concat":
            parts = [self.values(name, depth + 1) for name in node.inputs]
            return (
                None if any(part is None for part in parts) else [d for part in parts if part for d in part]
            )
        inner = self.values(node.inputs[0], depth + 1)
        if inner is None:
            return None
        if op == "Slice":
            starts, ends = (self.facts.constant(name) for name in node.inputs[1:3])
            if starts is None or ends is None:
                return None
            return inner[int(starts.reshape(-1)[0]) : int(min(int(ends.reshape(-1)[0]), _END))]
        if op == "Gather":
            index = self.facts.constant(node.inputs[1])
            return None if index is None else [inner[int(i)] for i in index.reshape(-1)]
        return None


def broadcast(shapes: list[Shape]) -> Shape | None:
    """The numpy-style broadcast of ``shapes`` (None when two known sizes disagree)."""
    rank = max((len(shape) for shape in shapes), default=0)
    out: list[Dim] = []
    for position in range(rank):
        dims = {shape[position - rank + len(shape)] for shape in shapes if position - rank + len(shape) >= 0}
        sized = dims - {1}
        numbers = {d for d in sized if isinstance(d, int)}
        if len(numbers) > 1:
            return None
        if numbers:
            out.append(numbers.pop())
        elif not sized:
            out.append(1)
        else:
            out.append(sized.pop() if len(sized) == 1 else None)
    return tuple(out)


def _product(dims: tuple[Dim, ...]) -> Dim:
    total = 1
    for d in dims:
        if not isinstance(d, int):
            return d if len(dims) == 1 else None
        total *= d
    return total
