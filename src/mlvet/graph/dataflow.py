"""Per-value facts computed in one forward and one backward pass over a ``Graph``.

- ``raw[v]``: a bitmask of the graph inputs whose *values* reach ``v`` (shape-only paths through
  ``Shape``/``Size``/``ConstantOfShape`` do not count), plus ``ENVIRONMENT`` for random ops.
- ``depth[v]``: the number of trunk operations (Conv/MatMul/Gemm/embedding...) on the longest path
  from an input to ``v``; 0 means ``v`` is the raw input or a cheap function of it.
- ``after[v]``: the number of trunk operations on the longest path from ``v`` to a graph output.
- ``constant(v)``: the value of ``v`` when it folds from constants with cheap ops, else None.
- ``shapes.of(v)``: the static shape of ``v`` propagated from the input and constant shapes, else None
  (``mlvet.graph.shapes``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from mlvet.graph.ir import Graph, Node

if TYPE_CHECKING:
    from mlvet.graph.shapes import Shapes

ENVIRONMENT = 1
"""Bit set in ``raw`` for values that depend on a random generator."""

TRUNK_OPS = frozenset(
    {
        "Conv", "ConvTranspose", "ConvInteger", "QLinearConv", "MatMul", "MatMulInteger", "QLinearMatMul",
        "Gemm", "QGemm", "FusedMatMul", "MatMulNBits", "DynamicQuantizeMatMul", "MatMulIntegerToFloat",
        "LSTM", "GRU", "RNN", "Attention", "MultiHeadAttention", "GroupQueryAttention", "Einsum",
        "EmbedLayerNormalization", "FusedConv", "NhwcConv", "QAttention", "DynamicQuantizeLSTM",
    }
)  # fmt: skip
"""Operations that apply learned weights: the layers of the model's trunk."""

SHAPE_OPS = frozenset({"Shape", "Size", "ConstantOfShape", "EyeLike"})
RANDOM_OPS = frozenset(
    {"RandomUniform", "RandomNormal", "RandomUniformLike", "RandomNormalLike", "Multinomial", "Bernoulli"}
)

JOINS = frozenset({"Mul", "Add", "Sub", "Where", "Sum", "Max", "Min", "Concat"})
"""Operations where a side computation can meet the main path."""

_ONNX_DTYPES = {
    1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32, 7: np.int64,
    9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64,
}  # fmt: skip
_FOLD_LIMIT = 1 << 16
_FOLD_DEPTH = 24

Array = npt.NDArray[Any]


class Facts:
    """The dataflow facts of one graph (see the module docstring)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.input_bits = {name: 1 << (index + 1) for index, name in enumerate(graph.input_names)}
        self.raw: dict[str, int] = dict(self.input_bits)
        self.depth: dict[str, int] = {}
        self.after: dict[str, int] = {}
        self._folded: dict[str, Array | None] = {}
        self._shapes: Shapes | None = None
        self._forward()
        self._backward()

    @property
    def shapes(self) -> Shapes:
        """Static shapes of values (computed on demand)."""
        if self._shapes is None:
            from mlvet.graph.shapes import Shapes

            self._shapes = Shapes(self)
        return self._shapes

    def is_trunk(self, node: Node) -> bool:
        if node.op_type in TRUNK_OPS:
            return True
        if node.op_type == "Gather" and node.inputs:
            table = self.graph.constants.get(node.inputs[0])
            return table is not None and len(table.shape) >= 2
        return False

    def inputs_of(self, mask: int) -> list[str]:
        return [name for name, bit in self.input_bits.items() if mask & bit]

    def _forward(self) -> None:
        raw, depth = self.raw, self.depth
        for node in self.graph.nodes:
            if node.op_type in SHAPE_OPS:
                mask, level = 0, 0
            else:
                mask = level = 0
                for name in (*node.inputs, *node.captures):
                    mask |= raw.get(name, 0)
                    level = max(level, depth.get(name, 0))
                if node.op_type in RANDOM_OPS:
                    mask |= ENVIRONMENT
                    if node.op_type.endswith("Like"):
                        mask = ENVIRONMENT
                if self.is_trunk(node) and mask:
                    level += 1
            for name in node.outputs:
                raw[name] = mask
                depth[name] = level

    def _backward(self) -> None:
        after = self.after
        for info in self.graph.outputs:
            after[info.name] = 0
        for node in reversed(self.graph.nodes):
            below = max((after[name] for name in node.outputs if name in after), default=-1)
            if below < 0:
                continue
            below += 1 if self.is_trunk(node) else 0
            for name in (*node.inputs, *node.captures):
                if after.get(name, -1) < below:
                    after[name] = below

    def static(self, value: str) -> bool:
        """True when ``value`` depends on no input value (a constant or a shape computation)."""
        return self.raw.get(value, 0) == 0

    def constant(self, value: str, _depth: int = 0) -> Array | None:
        """The folded value of ``value``, or None when it is not a small constant."""
        if value in self._folded:
            return self._folded[value]
        result: Array | None = None
        stored = self.graph.constants.get(value)
        if stored is not None:
            result = stored.value
        elif _depth < _FOLD_DEPTH and self.static(value):
            node = self.graph.producer_of(value)
            if node is not None and not node.subgraphs:
                try:
                    result = self._fold(node, _depth + 1)
                except (ValueError, TypeError, IndexError, OverflowError, MemoryError):
                    result = None
        if result is not None and (result.size > _FOLD_LIMIT or result.dtype.kind not in "biuf"):
            result = None
        self._folded[value] = result
        return result

    def _fold(self, node: Node, depth: int) -> Array | None:
        args = [self.constant(name, depth) if name else None for name in node.inputs]
        op = node.op_type
        if op in ("Identity", "Cast", "Neg", "Squeeze", "Unsqueeze", "Reshape", "Flatten") and args:
            first = args[0]
            if first is None:
                return None
            if op == "Identity":
                return first
            if op == "Neg":
                return np.asarray(-first)
            if op == "Cast":
                target = _ONNX_DTYPES.get(int(node.attributes.get("to", 0)))
                return None if target is None else first.astype(target)
            if op == "Flatten":
                return first.reshape(1, -1) if first.ndim <= 1 else first.reshape(first.shape[0], -1)
            if op == "Reshape":
                shape = args[1] if len(args) > 1 else None
                if shape is None or np.any(shape == 0):
                    return None
                return first.reshape(tuple(int(d) for d in shape))
            axes = _axes(node, args)
            if op == "Squeeze":
                return np.squeeze(first, axis=axes) if axes is not None else np.squeeze(first)
            if axes is None:
                return None
            result = first
            for axis in sorted(a % (first.ndim + len(axes)) for a in axes):
                result = np.expand_dims(result, axis)
            return np.asarray(result)
        if op == "Concat" and args and all(a is not None for a in args):
            return np.concatenate(
                [a for a in args if a is not None], axis=int(node.attributes.get("axis", 0))
            )
        if (
            op in ("Add", "Sub", "Mul", "Div")
            and len(args) == 2
            and args[0] is not None
            and args[1] is not None
        ):
            left, right = args[0], args[1]
            if op == "Add":
                return np.asarray(left + right)
            if op == "Sub":
                return np.asarray(left - right)
            if op == "Mul":
                return np.asarray(left * right)
            return np.asarray(left / right) if np.all(right != 0) else None
        return None


def _axes(node: Node, args: list[Array | None]) -> tuple[int, ...] | None:
    if "axes" in node.attributes:
        return tuple(int(a) for a in node.attributes["axes"])
    if len(args) > 1 and args[1] is not None:
        return tuple(int(a) for a in args[1].reshape(-1))
    return None
