"""Element-wise masks: ``Where(x > t, y, fill)`` deciding each element, not the whole sample.

A trigger collapses the input to one decision per sample; a mask (attention masks, -inf pixel
masks, alpha compositing, clipping) keeps the input's extent and fills masked elements with a
masking value. ``elementwise_mask`` tells the two apart for a Where candidate.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import numpy as np

from mlvet.graph.dataflow import JOINS
from mlvet.graph.expressions import COMPARISONS, REDUCTIONS, Predicate
from mlvet.graph.gates import Reduction
from mlvet.graph.ir import Node
from mlvet.graph.shapes import Shape

if TYPE_CHECKING:
    from mlvet.graph.detect import Candidate, Detector

_WALK_LIMIT = 48
"""Values visited by the backward and forward walks (bounded per candidate)."""
_MASK_LOGIC = frozenset({*COMPARISONS, "And", "Or", "Not", "Xor", "Cast", "CastLike", "Identity"})
"""Operations allowed between an element-wise mask's comparisons and its Where."""
_MASKING_FILL = 1e4
"""Fills at least this large in magnitude (or infinite) mask elements out, as attention masks do."""
_COLLAPSING = frozenset(
    {*REDUCTIONS, "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare",
     "ArgMax", "ArgMin", "TopK", "NonZero", "Gather", "GatherND", "Slice"}
)  # fmt: skip
"""Operations that collapse or pick from an element-wise result (making it a per-sample decision)."""


def elementwise_mask(detector: Detector, candidate: Candidate, predicate: Predicate) -> bool:
    """A per-element mask: ``Where(x > t, y, fill)`` deciding each element, not the whole sample.

    Every comparison thresholds a value with a single constant, keeps its own extent beyond the
    batch axis (no reduction, no Expand of a one-per-sample decision, no fixed positions reduced
    to a flag), and the condition lines up with the selected tensor. The fill must be a masking
    value (±inf, |x| >= 1e4), or the Where must edit the raw input before the first layer.
    """
    main, shapes = candidate.main, detector.facts.shapes
    if main is None or detector.facts.static(main) or not predicate.comparisons:
        return False
    if not predicate.ops <= _MASK_LOGIC:
        return False
    for comparison in predicate.comparisons:
        side, constant = comparison.side, comparison.constant
        if side.reduction is not Reduction.NONE or side.index_op or constant is None or constant.size != 1:
            return False
        if not _keeps_extent(detector, comparison.value):
            return False
    cond, selected = shapes.of(candidate.cond), shapes.of(main)
    if cond is None or selected is None or not _aligned(cond, selected):
        return False
    fill = detector.facts.constant(candidate.payload) if candidate.payload else None
    if fill is not None and fill.size and bool(np.all(np.abs(fill.astype(np.float64)) >= _MASKING_FILL)):
        return True
    return detector.facts.depth.get(main, 0) == 0 and _feeds_layer_first(detector, candidate.join)


def _keeps_extent(detector: Detector, value: str) -> bool:
    """True when ``value`` and every input-derived value it is computed from (back to the inputs or
    a layer) hold more than one element per sample: the extent is the input's, not a broadcast."""
    stack, seen = [value], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if len(seen) > _WALK_LIMIT or not _per_element(detector.facts.shapes.of(current)):
            return False
        node = detector.graph.producer_of(current)
        if node is not None and not detector.facts.is_trunk(node):
            stack.extend(
                name for name in node.inputs if name and detector.facts.raw.get(name, 0) & detector.input_mask
            )
    return True


def _feeds_layer_first(detector: Detector, join: Node) -> bool:
    """True when every path from ``join`` reaches a trunk layer before a reduction, join or output."""
    outputs = {info.name for info in detector.graph.outputs}
    queue: deque[str] = deque(name for name in join.outputs if name)
    seen = set(queue)
    while queue:
        value = queue.popleft()
        if value in outputs or len(seen) > _WALK_LIMIT * 4:
            return False
        for node in detector.graph.consumers_of(value):
            if detector.facts.is_trunk(node):
                continue
            if node.op_type in _COLLAPSING or node.subgraphs:
                return False
            others = [name for name in node.inputs if name and name != value]
            if node.op_type in JOINS and any(detector.facts.depth.get(name, 0) >= 1 for name in others):
                return False
            for output in node.outputs:
                if output and output not in seen:
                    seen.add(output)
                    queue.append(output)
    return True


def _per_element(shape: Shape | None) -> bool:
    """True when ``shape`` has more than one element per sample (a size > 1 past the batch axis)."""
    return shape is not None and any(isinstance(d, str) or (isinstance(d, int) and d > 1) for d in shape[1:])


def _aligned(cond: Shape, selected: Shape) -> bool:
    """True when every non-1 axis of ``cond`` has the same size in ``selected`` (right-aligned)."""
    if len(cond) > len(selected):
        return False
    tail = selected[len(selected) - len(cond) :]
    return all(d == 1 or (d is not None and d == s) for d, s in zip(cond, tail, strict=True))
