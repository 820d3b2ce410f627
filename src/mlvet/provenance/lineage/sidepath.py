"""Late joins of shallow input paths: the shape an injected trigger leaves in a graph.

A trigger reads the graph input through a few nodes (Slice, Equal, ReduceMean...) and joins the
main computation late, next to the output. This module finds every node of a graph's main body that
combines a deep value (the trunk) with one that lies at most half as far from a graph input.
Residual connections do the same, so the result is only meaningful compared across two versions
of one model: a quantizer or converter keeps their number; an injected side path adds one.
Values computed only from constants or from shapes (``Shape``, ``Size``) carry no depth.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import onnx

MIN_DEPTH = 4
"""A join closer than this to the graph inputs is ordinary early computation."""
_METADATA_OPS = frozenset({"Shape", "Size"})


@dataclass(frozen=True)
class Join:
    """A node that joins a shallow input path into a deep value."""

    node: str
    op_type: str
    depth: int
    shallow: str
    shallow_depth: int
    inputs: tuple[str, ...]
    """Graph inputs the shallow value depends on."""

    def describe(self) -> str:
        return (
            f"{self.op_type} node {self.node!r} ({self.depth} nodes deep) joins {self.shallow!r}, "
            f"{self.shallow_depth} node(s) from input {', '.join(self.inputs)}"
        )


def late_joins(model: onnx.ModelProto) -> list[Join]:
    """Every shallow-into-deep join in ``model``'s main graph, in graph order."""
    graph = model.graph
    initialized = {t.name for t in graph.initializer}
    depth: dict[str, int] = {v.name: 0 for v in graph.input if v.name not in initialized}
    sources: dict[str, frozenset[str]] = {name: frozenset({name}) for name in depth}
    joins: list[Join] = []
    for index, node in enumerate(graph.node):
        known = [(name, depth[name]) for name in node.input if name in depth]
        if not known or node.op_type in _METADATA_OPS:
            continue
        deepest = max(d for _, d in known)
        level = deepest + 1
        reads = frozenset(s for name, _ in known for s in sources[name])
        for output in node.output:
            depth[output] = level
            sources[output] = reads
        if level < MIN_DEPTH:
            continue
        for name, value in known:
            if value * 2 <= deepest and value < deepest:
                label = node.name or f"{node.op_type}#{index}"
                joins.append(Join(label, node.op_type, level, name, value, tuple(sorted(sources[name]))))
                break
    return joins


def new_joins(parent: onnx.ModelProto, child: onnx.ModelProto) -> list[Join]:
    """The child's joins beyond the parent's count of joins with the same op type."""
    allowance = Counter(j.op_type for j in late_joins(parent))
    extra: list[Join] = []
    for join in late_joins(child):
        if allowance[join.op_type] > 0:
            allowance[join.op_type] -= 1
        else:
            extra.append(join)
    return extra
