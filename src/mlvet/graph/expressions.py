"""Conditions in words and constraints: what a trigger compares, read back from the graph.

``Describer.predicate(cond)`` walks from a condition value down through logic ops to the
comparisons it is made of; each comparison's non-constant side is traced back through
Slice/Gather/Cast/Reduce* to the graph input it reads, giving a selector like ``tokens[0, 3:7]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlvet.graph.dataflow import RANDOM_OPS, Array, Facts
from mlvet.graph.gates import Reduction, Relation
from mlvet.graph.ir import Node

Axis = int | tuple[int | None, int | None, int | None]

COMPARISONS = {
    "Equal": Relation.EQ, "Greater": Relation.GT, "Less": Relation.LT,
    "GreaterOrEqual": Relation.GE, "LessOrEqual": Relation.LE,
}  # fmt: skip
_FLIPPED = {
    Relation.GT: Relation.LT,
    Relation.LT: Relation.GT,
    Relation.GE: Relation.LE,
    Relation.LE: Relation.GE,
}
_NEGATED = {
    Relation.EQ: Relation.NE, Relation.NE: Relation.EQ, Relation.GT: Relation.LE,
    Relation.LE: Relation.GT, Relation.LT: Relation.GE, Relation.GE: Relation.LT,
}  # fmt: skip
REDUCTIONS = {
    "ReduceMean": Reduction.MEAN, "GlobalAveragePool": Reduction.MEAN, "AveragePool": Reduction.MEAN,
    "ReduceSum": Reduction.SUM, "ReduceMax": Reduction.MAX, "GlobalMaxPool": Reduction.MAX,
    "MaxPool": Reduction.MAX, "ReduceMin": Reduction.MIN,
}  # fmt: skip
_PASS_THROUGH = frozenset({"Cast", "Identity", "Expand", "CastLike"})
_RESHAPING = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose"})
_MAX_WALK = 256
_ASSUMED_RANK = 8
"""Axes tracked for an input of unknown rank (trailing full slices are dropped from selectors)."""


@dataclass
class Selection:
    """The non-constant side of a comparison, in terms of a graph input."""

    input: str | None
    selector: list[Axis] = field(default_factory=list)
    axes: list[int] | None = field(default_factory=list)
    """Current axis -> position in ``selector`` (None once a reshape makes that unknown)."""
    reduction: Reduction = Reduction.NONE
    text: str = "?"
    expressible: bool = True
    selected: bool = False
    """A Slice/Gather picked part of the input."""
    index_op: bool = False
    """The path goes through ArgMax/TopK (selection of indices, as routers and decoders do)."""
    scale: float | None = None
    rank_known: bool = True
    """False when the input's rank is unknown (then only non-negative axes can be resolved)."""


@dataclass
class Comparison:
    node: str
    relation: Relation
    side: Selection
    constant: Array | None
    value: str
    """The non-constant side's value name."""
    elem_type: str = "unknown"
    """Element type of the graph input the side reads ("unknown" when it reads none)."""
    constant_name: str = ""
    """The constant side's value name (its value may be unknown: a large or external tensor, a buffer)."""

    @property
    def text(self) -> str:
        if self.constant is None:
            return f"{self.side.text} {self.relation.value} {self.constant_name or '<computed>'}"
        as_bytes = self.elem_type == "uint8" and self.relation in (Relation.EQ, Relation.NE)
        return f"{self.side.text} {self.relation.value} {format_constant(self.constant, as_bytes)}"


@dataclass
class Predicate:
    text: str
    comparisons: list[Comparison]
    nodes: list[str]
    ops: set[str]


class Describer:
    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.graph = facts.graph
        self._budget = _MAX_WALK

    def predicate(self, value: str) -> Predicate:
        """The condition computed into ``value``, as text and comparisons."""
        self._budget = _MAX_WALK
        result = Predicate("", [], [], set())
        result.text = self._predicate(value, result, negate=False)
        return result

    def _predicate(self, value: str, out: Predicate, negate: bool) -> str:
        node = self.graph.producer_of(value)
        self._budget -= 1
        if node is None or self._budget <= 0:
            return self._plain(value)
        out.nodes.append(node.label)
        out.ops.add(node.op_type)
        op = node.op_type
        if op in ("And", "Or", "Xor") and len(node.inputs) == 2:
            word = {"And": " and ", "Or": " or ", "Xor": " xor "}[op]
            if negate:
                word = " or " if op == "And" else " and "
            parts = list(dict.fromkeys(self._predicate(name, out, negate) for name in node.inputs))
            flat: list[str] = []
            for part in parts:
                pieces = part[1:-1].split(word) if part.startswith("(") and part.endswith(")") else [part]
                flat.extend(piece for piece in pieces if piece not in flat)
            return flat[0] if len(flat) == 1 else "(" + word.join(flat) + ")"
        if op in ("Gather", "Slice") and node.inputs and self._is_logic(node.inputs[0]):
            return self._predicate(node.inputs[0], out, negate)
        if op == "Not" and node.inputs:
            return self._predicate(node.inputs[0], out, not negate)
        if (op in _PASS_THROUGH or op in _RESHAPING) and node.inputs:
            return self._predicate(node.inputs[0], out, negate)
        if op in ("ReduceMin", "ReduceProd", "ReduceMax", "ReduceSum") and node.inputs:
            inner = self._predicate(node.inputs[0], out, negate)
            word = "all" if op in ("ReduceMin", "ReduceProd") else "any"
            return (
                inner
                if word == "all" and not negate
                else f"{word}{inner if inner.startswith('(') else f'({inner})'}"
            )
        if op in COMPARISONS and len(node.inputs) == 2:
            comparison = self.comparison(node, negate)
            seen = (
                next((c for c in out.comparisons if c.node == comparison.node), None) if comparison else None
            )
            if seen is not None:
                return seen.text
            if comparison is not None:
                out.comparisons.append(comparison)
                if comparison.side.input is None:
                    out.comparisons.extend(self._inner_comparisons(comparison.value, out))
                return comparison.text
        if op in ("IsNaN", "IsInf") and node.inputs:
            return f"{'not ' if negate else ''}{op.lower()}({self._plain(node.inputs[0])})"
        return f"{'not ' if negate else ''}{op}({', '.join(self._plain(name) for name in node.inputs[:3])})"

    def _is_logic(self, value: str) -> bool:
        node = self.graph.producer_of(value)
        return node is not None and (
            node.op_type in COMPARISONS or node.op_type in ("And", "Or", "Not", "Xor")
        )

    def _inner_comparisons(self, value: str, out: Predicate) -> list[Comparison]:
        """Comparisons nested below a reduction of a predicate (``mean(x > t) > f``)."""
        inner = Predicate("", [], [], set())
        self._predicate_below(value, inner)
        out.nodes.extend(inner.nodes)
        out.ops |= inner.ops
        return inner.comparisons

    def _predicate_below(self, value: str, out: Predicate) -> None:
        node = self.graph.producer_of(value)
        if node is None or self._budget <= 0:
            return
        if node.op_type in COMPARISONS or node.op_type in ("And", "Or", "Not", "Xor"):
            self._predicate(value, out, negate=False)
            return
        if node.op_type in _PASS_THROUGH or node.op_type in _RESHAPING or node.op_type in REDUCTIONS:
            self._budget -= 1
            out.nodes.append(node.label)
            self._predicate_below(node.inputs[0], out)

    def comparison(self, node: Node, negate: bool = False) -> Comparison | None:
        relation = COMPARISONS[node.op_type]
        left, right = node.inputs[0], node.inputs[1]
        left_const, right_const = self.facts.constant(left), self.facts.constant(right)
        if left_const is not None and right_const is None:
            left, right, left_const, right_const = right, left, right_const, left_const
            relation = _FLIPPED.get(relation, relation)
        if left_const is not None:
            return None
        if right_const is None and not self.facts.static(right):
            return None
        if negate:
            relation = _NEGATED[relation]
        side = self.trace(left)
        info = self.graph.input_info(side.input) if side.input else None
        elem_type = info.elem_type if info is not None else "unknown"
        return Comparison(node.label, relation, side, right_const, left, elem_type, right)

    def trace(self, value: str, hops: int = 0) -> Selection:
        """What ``value`` selects from which graph input."""
        if value in self.facts.input_bits:
            info = self.graph.input_info(value)
            known = info is not None and info.shape is not None
            rank = len(info.shape) if info is not None and info.shape is not None else _ASSUMED_RANK
            selection = Selection(value, [(None, None, None)] * rank, list(range(rank)), text=value)
            selection.rank_known = known
            return selection
        node = self.graph.producer_of(value)
        if node is None or hops > 64 or not node.inputs:
            return Selection(None, text=self._plain(value), expressible=False)
        op = node.op_type
        if op in _PASS_THROUGH:
            return self.trace(node.inputs[0], hops + 1)
        if op in _RESHAPING:
            inner = self.trace(node.inputs[0], hops + 1)
            inner.axes = None
            return inner
        if op == "Slice":
            return self._slice(node, self.trace(node.inputs[0], hops + 1))
        if op == "Gather":
            table = self.graph.constants.get(node.inputs[0])
            if table is not None and len(table.shape) >= 2 and len(node.inputs) > 1:
                ids = self.trace(node.inputs[1], hops + 1)
                return Selection(None, text=f"embedding({ids.text})", expressible=False)
            return self._gather(node, self.trace(node.inputs[0], hops + 1))
        if op in REDUCTIONS:
            inner = self.trace(node.inputs[0], hops + 1)
            if inner.reduction is not Reduction.NONE:
                inner.expressible = False
            inner.reduction = REDUCTIONS[op]
            inner.text = f"{inner.reduction.value}({inner.text})"
            return inner
        if op in ("ArgMax", "ArgMin", "TopK"):
            inner = self.trace(node.inputs[0], hops + 1)
            inner.index_op, inner.expressible = True, False
            inner.text = f"{op.lower()}({inner.text})"
            return inner
        if op in ("Mul", "Div") and len(node.inputs) == 2:
            scale = self.facts.constant(node.inputs[1])
            if scale is not None and scale.size == 1:
                inner = self.trace(node.inputs[0], hops + 1)
                factor = float(scale.reshape(-1)[0])
                inner.scale = factor if op == "Mul" else (1 / factor if factor else None)
                inner.expressible = False
                inner.text = f"{inner.text} {'*' if op == 'Mul' else '/'} {number_text(factor)}"
                return inner
        if op in COMPARISONS or op in ("And", "Or", "Not", "Xor"):
            inner_predicate = Describer(self.facts).predicate(value)
            text = inner_predicate.text
            return Selection(None, text=text if text.startswith("(") else f"({text})", expressible=False)
        return Selection(None, text=self._plain(value), expressible=False)

    def _slice(self, node: Node, inner: Selection) -> Selection:
        params = [self.facts.constant(name) if name else None for name in node.inputs[1:5]]
        if len(node.inputs) >= 3 and params[0] is not None and params[1] is not None:
            starts, ends = params[0].reshape(-1), params[1].reshape(-1)
            axes = (
                params[2].reshape(-1) if len(params) > 2 and params[2] is not None else np.arange(len(starts))
            )
            steps = (
                params[3].reshape(-1) if len(params) > 3 and params[3] is not None else np.ones(len(starts))
            )
        elif "starts" in node.attributes and "ends" in node.attributes:
            starts = np.array(node.attributes["starts"])
            ends = np.array(node.attributes["ends"])
            axes = np.array(node.attributes.get("axes", range(len(starts))))
            steps = np.ones(len(starts))
        else:
            inner.expressible = False
            inner.text += "[?]"
            return inner
        spans = [
            (int(b), int(e), int(a), int(t))
            for b, e, a, t in zip(starts, ends, axes, steps, strict=False)
            if not (int(b) == 0 and int(e) >= 1 << 40 and int(t) == 1)
        ]
        if not spans:
            return inner
        inner.selected = True
        if inner.input is None or inner.axes is None:
            for start, end, axis, _ in spans:
                inner.text += _index_text(axis, f"{start}:{end}")
            inner.expressible = False
            return inner
        for start, end, axis, step in spans:
            _apply_slice(inner, axis, start, end, step)
        inner.text = _selection_text(inner)
        return inner

    def _gather(self, node: Node, inner: Selection) -> Selection:
        indices = self.facts.constant(node.inputs[1]) if len(node.inputs) > 1 else None
        axis = int(node.attributes.get("axis", 0))
        inner.selected = True
        if inner.input is None:
            shown = "?" if indices is None else format_constant(indices)
            inner.text, inner.expressible = inner.text + _index_text(axis, shown), False
            return inner
        if axis < 0 and not inner.rank_known:
            inner.axes = None
        if indices is None or inner.axes is None or not -len(inner.axes) <= axis < len(inner.axes):
            inner.expressible = False
            inner.text += "[<computed>]"
            return inner
        axis %= len(inner.axes)
        flat = [int(i) for i in indices.reshape(-1)]
        if indices.ndim == 0:
            position = inner.axes.pop(axis)
            inner.selector[position] = _compose_index(inner.selector[position], flat[0])
        elif flat and flat == list(range(flat[0], flat[0] + len(flat))) and flat[0] >= 0:
            _apply_slice(inner, axis, flat[0], flat[0] + len(flat), 1)
        else:
            inner.expressible = False
            inner.text = _selection_text(inner) + _index_text(axis, format_constant(np.array(flat[:16])))
            return inner
        inner.text = _selection_text(inner)
        return inner

    def _plain(self, value: str) -> str:
        node = self.graph.producer_of(value)
        if node is not None and node.op_type in RANDOM_OPS:
            return f"{node.op_type}()"
        return value


def _apply_slice(selection: Selection, axis: int, start: int, end: int, step: int) -> None:
    if axis < 0 and not selection.rank_known:
        selection.axes = None
    if selection.axes is None or not -len(selection.axes) <= axis < len(selection.axes) or step <= 0:
        selection.expressible = False
        return
    position = selection.axes[axis % len(selection.axes)]
    current = selection.selector[position]
    if not isinstance(current, tuple) or current[2] not in (None, 1) or start < 0 or (0 > end > -(1 << 40)):
        selection.expressible = False
        return
    base = current[0] or 0
    stop = None if end >= 1 << 40 else base + end
    if current[1] is not None:
        stop = current[1] if stop is None else min(stop, current[1])
    selection.selector[position] = (base + start, stop, None if step == 1 else step)


def _index_text(axis: int, index: str) -> str:
    """``[:, :, index]`` for axis 2, ``[..., index]`` for axis -1 (no letters after '[': not markup)."""
    if axis >= 0:
        return "[" + ":, " * axis + index + "]"
    return "[..., " + index + ", :" * (-axis - 1) + "]"


def _compose_index(current: Axis, index: int) -> Axis:
    if isinstance(current, tuple) and index >= 0 and current[2] in (None, 1):
        return (current[0] or 0) + index
    return index


def _selection_text(selection: Selection) -> str:
    name = selection.input or "?"
    parts = [_axis_text(axis) for axis in selection.selector]
    while parts and parts[-1] == ":":
        parts.pop()
    return f"{name}[{', '.join(parts)}]" if parts else name


def _axis_text(axis: Axis) -> str:
    if isinstance(axis, int):
        return str(axis)
    start, stop, step = axis
    text = f"{start or 0}:{stop}" if stop is not None else f"{start or ''}:"
    return text + (f":{step}" if step not in (None, 1) else "")


def format_constant(value: Array, as_bytes: bool = False) -> str:
    """Numbers as ``0.9`` or ``[1012, 2003]``; bytes as hex ``41 49 5F 45``."""
    flat = value.reshape(-1)
    if as_bytes:
        text = " ".join(f"{int(v) & 0xFF:02X}" for v in flat[:64])
        return text + (f" ... ({flat.size} bytes)" if flat.size > 64 else "")
    if flat.size == 1:
        return number_text(flat[0])
    items = ", ".join(number_text(v) for v in flat[:16])
    return f"[{items}, ... ({flat.size} values)]" if flat.size > 16 else f"[{items}]"


def number_text(value: Any) -> str:
    """A number as an integer when it is one, else with 6 significant digits."""
    number = float(value)
    if number.is_integer() and abs(number) < 1 << 53:
        return str(int(number))
    return f"{number:.6g}"
