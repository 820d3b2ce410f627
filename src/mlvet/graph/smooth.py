"""Smooth detectors (MLV906): comparisons written with saturating ops and extreme constants.

``sigmoid(k * (x - t))`` is a step at ``t`` when it climbs from ~0 to ~1 within a small fraction of
the values ``x`` plausibly takes: ``|k| * span >= 50``, where the span is at least 1 (normalised
inputs), at least ``|t|`` (a threshold at ``t`` means values around ``t`` occur) and 255 for raw
bytes. ``exp(-k * sum((x - c)^2))`` is a bump at the constant ``c``. Over a slice of the raw input
(or of the first embedding/conv output, MLV907) that joins the main path, they are
weight-independent trigger detectors. A first-layer bump must join deeper than its feature (a bias
folded into a later Gemm/Conv counts at that layer's output) unless its scale is extreme.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlvet.findings import Severity
from mlvet.graph import rules
from mlvet.graph.dataflow import Array
from mlvet.graph.detection import Detection
from mlvet.graph.expressions import format_constant, number_text
from mlvet.graph.gates import Constraint, Gate, GateKind, Relation
from mlvet.graph.ir import Node

if TYPE_CHECKING:
    from mlvet.graph.detect import Detector

SMOOTH_OPS = frozenset({"Sigmoid", "Exp", "Tanh", "Pow", "Softplus", "HardSigmoid"})
EXTREME_SCALE = 50.0
"""``|k| * span`` at or above which ``sigmoid(k * (x - t))`` is a step function of ``x``: its 10-90 %
rise (4.4 / |k|) takes less than 9 % of the span of ``x``. GELU (1.702), SiLU (1), temperature
scaling (1 / 0.07) and activation approximations stay far below it."""
STEP_OPS = frozenset({"Sigmoid", "Tanh", "HardSigmoid", "Exp", "Softplus"})
"""Saturating (or exploding) ops whose steepness is measured against the span of their input."""
_BYTE_SPAN = 255.0
BUMP_SCALE = 1.0
"""Minimum |k| for ``exp(-k * distance^2)`` to a multi-element constant (a bump at that constant)."""


@dataclass
class _Shape:
    """What the smooth op's argument is: ``k * (reduce((x - centre)^2) - t)`` in general."""

    scale: float
    threshold: float
    base: str
    chain: list[str]
    reduction: str = ""
    squared: bool = False
    centre: Array | None = None


def smooth_detections(detector: Detector) -> list[Detection]:
    """Smooth detectors over the raw input or a first-layer feature that join the main path."""
    by_join: dict[str, Detection] = {}
    facts = detector.facts
    for node in detector.graph.nodes:
        if node.op_type not in SMOOTH_OPS or not node.inputs or not node.outputs:
            continue
        source = node.inputs[0]
        level = facts.depth.get(source, 0)
        if not facts.raw.get(source, 0) & detector.input_mask or level > 1:
            continue
        shape = _shape(detector, node)
        if shape is None or not _extreme(detector, node, shape, level):
            continue
        joins = detector.forward_joins(node.outputs[0])
        if not joins:
            continue
        join, came_from, trunk = joins[0]
        if level and not _joins_late(detector, join, shape, level):
            continue
        detection = _detection(detector, node, shape, join, came_from, trunk, level)
        previous = by_join.get(join.label)
        if previous is None or len(detection.gate.constraints) > len(previous.gate.constraints):
            by_join[join.label] = detection
    return list(by_join.values())


def _extreme(detector: Detector, node: Node, shape: _Shape, level: int) -> bool:
    bump = node.op_type == "Exp" and shape.scale < 0 and shape.squared
    if bump and shape.centre is not None and shape.centre.size >= 2:
        return abs(shape.scale) >= BUMP_SCALE
    if level:
        return False
    if bump:
        return abs(shape.scale) >= EXTREME_SCALE / 5
    if node.op_type not in STEP_OPS or shape.squared:
        return abs(shape.scale) >= EXTREME_SCALE  # Pow: the exponent itself
    return abs(shape.scale) * _span(detector, shape) >= EXTREME_SCALE


def _span(detector: Detector, shape: _Shape) -> float:
    """How wide a range the detector's argument plausibly covers (see the module docstring)."""
    span = max(1.0, abs(shape.threshold))
    side = detector.describer.trace(shape.base)
    info = detector.graph.input_info(side.input) if side.input is not None else None
    if info is not None and info.elem_type == "uint8":
        span = max(span, _BYTE_SPAN)
    return span


def _joins_late(detector: Detector, join: Node, shape: _Shape, level: int) -> bool:
    """Whether a detector over a first-layer feature joins a path at least as deep as that feature.

    A join deeper than the feature (a gated bias folded into a later Gemm/Conv counts at the depth of
    that layer's output) is late. A bump with an extreme scale against a multi-element centre may join
    the hidden state right next to the feature: no legitimate layer compares a feature this sharply.
    """
    if detector.facts.depth.get(join.outputs[0], 0) > level:
        return True
    return shape.centre is not None and shape.centre.size >= 2 and abs(shape.scale) >= EXTREME_SCALE


def _detection(
    detector: Detector, node: Node, shape: _Shape, join: Node, came_from: str, trunk: list[str], level: int
) -> Detection:
    facts = detector.facts
    side = detector.describer.trace(shape.base)
    as_bytes = (
        side.input is not None
        and detector.graph.input_info(side.input) is not None
        and (getattr(detector.graph.input_info(side.input), "elem_type", "") == "uint8")
    )
    inner = side.text
    if shape.centre is not None:
        inner = f"{inner} - {format_constant(shape.centre, as_bytes)}"
    if shape.squared:
        inner = f"({inner})^2"
    if shape.reduction:
        inner = f"{shape.reduction}({inner})"
    if shape.threshold:
        inner = f"{inner} {'-' if shape.threshold > 0 else '+'} {number_text(abs(shape.threshold))}"
    predicate = f"{node.op_type.lower()}({number_text(shape.scale)} * ({inner}))"
    constraints: tuple[Constraint, ...] = ()
    if side.input is not None and side.expressible:
        if shape.centre is not None:
            relation, value = Relation.EQ, tuple(float(v) for v in shape.centre.reshape(-1))
        else:
            relation, value = (Relation.GT if shape.scale > 0 else Relation.LT), (shape.threshold,)
        constraints = (Constraint(side.input, tuple(_trim(side.selector)), relation, value, side.reduction),)
    gate = Gate(
        kind=GateKind.INTERMEDIATE if level else GateKind.SMOOTH,
        inputs=tuple(facts.inputs_of(facts.raw.get(node.inputs[0], 0))),
        trigger_nodes=(*reversed(shape.chain), node.label),
        join_node=join.label,
        payload_nodes=detector.payload(came_from, trunk[0] if trunk else None, node.outputs[0])
        or _blend_target(detector, trunk),
        outputs=detector.outputs_from(join.outputs[0]),
        constraints=constraints,
        predicate=predicate,
    )
    details = {
        "scale": shape.scale,
        "threshold": shape.threshold,
        "feature_layers": level,
        "layers_after_join": facts.after.get(join.outputs[0], 0),
    }
    rule = rules.INTERMEDIATE_GATE if level else rules.SMOOTH_DETECTOR
    return Detection(gate, rule, Severity.HIGH, details)


def _blend_target(detector: Detector, trunk: list[str]) -> tuple[str, ...]:
    """The constant ``P`` of an ``out + g * (P - out)`` blend: the trunk side is ``P - out``."""
    producer = detector.graph.producer_of(trunk[0]) if trunk else None
    if producer is None or producer.op_type not in ("Sub", "Add") or len(producer.inputs) != 2:
        return ()
    return tuple(name for name in producer.inputs if name in detector.graph.constants)


def _shape(detector: Detector, node: Node) -> _Shape | None:
    scaled = _scale(detector, node)
    if scaled is None:
        return None
    scale, threshold, base, chain = scaled
    shape = _Shape(scale, threshold, base, chain)
    graph, constant = detector.graph, detector.facts.constant
    producer = graph.producer_of(shape.base)
    if producer is not None and producer.op_type in ("ReduceSum", "ReduceMean") and producer.inputs:
        shape.reduction = "sum" if producer.op_type == "ReduceSum" else "mean"
        shape.chain.append(producer.label)
        shape.base = producer.inputs[0]
        producer = graph.producer_of(shape.base)
    if producer is not None and len(producer.inputs) == 2:
        exponent = constant(producer.inputs[1]) if producer.op_type == "Pow" else None
        same = producer.op_type == "Mul" and producer.inputs[0] == producer.inputs[1]
        if same or (exponent is not None and exponent.size == 1 and float(exponent.reshape(-1)[0]) == 2.0):
            shape.squared = True
            shape.chain.append(producer.label)
            shape.base = producer.inputs[0]
            producer = graph.producer_of(shape.base)
    if producer is not None and producer.op_type == "Sub" and len(producer.inputs) == 2:
        centre = constant(producer.inputs[1])
        if centre is not None and not detector.facts.static(producer.inputs[0]):
            shape.centre = centre
            shape.chain.append(producer.label)
            shape.base = producer.inputs[0]
    return shape


def _scale(detector: Detector, node: Node) -> tuple[float, float, str, list[str]] | None:
    """(k, t, x, nodes) when ``node`` computes f(k * (x - t)) for scalar constants k and t."""
    constant = detector.facts.constant
    if node.op_type == "HardSigmoid":
        alpha = float(node.attributes.get("alpha", 0.2))
        beta = float(node.attributes.get("beta", 0.5))
        return alpha, (0.5 - beta) / alpha, node.inputs[0], []
    if node.op_type == "Pow":
        exponent = constant(node.inputs[1]) if len(node.inputs) > 1 else None
        if exponent is None or exponent.size != 1:
            return None
        return float(exponent.reshape(-1)[0]), 0.0, node.inputs[0], []
    value, chain = node.inputs[0], []
    scale: float | None = None
    outer = inner = 0.0
    for _ in range(3):
        producer = detector.graph.producer_of(value)
        if producer is None or len(producer.inputs) != 2:
            break
        left, right = producer.inputs
        left_const, right_const = constant(left), constant(right)
        const, other = (right_const, left) if right_const is not None else (left_const, right)
        if const is None or const.size != 1:
            break
        number = float(const.reshape(-1)[0])
        if producer.op_type == "Mul" and scale is None:
            scale = number
        elif producer.op_type == "Div" and scale is None and number != 0 and right_const is not None:
            scale = 1 / number
        elif producer.op_type in ("Sub", "Add") and (producer.op_type == "Add" or right_const is not None):
            offset = number if producer.op_type == "Sub" else -number
            if scale is None:
                outer += offset  # f(x*k - c): met before the scale while walking back
            else:
                inner += offset  # f((x - t)*k)
        else:
            break
        chain.append(producer.label)
        value = other
    if scale is None:
        return None
    return scale, inner + outer / scale, value, chain


def _trim(
    selector: list[int | tuple[int | None, int | None, int | None]],
) -> list[int | tuple[int | None, int | None, int | None]]:
    trimmed = list(selector)
    while trimmed and trimmed[-1] == (None, None, None):
        trimmed.pop()
    return trimmed
