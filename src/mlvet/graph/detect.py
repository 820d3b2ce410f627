"""Find suspected injected gates in a ``Graph``: where a trigger condition meets the computation.

Candidates are Where/If conditions and 0/1 values cast from comparisons; each condition is read back
(``expressions``) and classified: raw-input trigger, token/byte sequence, intermediate feature, or
environment. Smooth detectors and shallow side paths are found separately. Legitimate patterns
(masks on special ids, shape-derived conditions, NaN guards, thresholds on the model's own output,
routers) are filtered out here.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from mlvet.findings import Rule, Severity
from mlvet.graph import rules
from mlvet.graph.dataflow import ENVIRONMENT, JOINS, RANDOM_OPS, Facts, Shape
from mlvet.graph.detection import Detection
from mlvet.graph.expressions import COMPARISONS, REDUCTIONS, Comparison, Describer, Predicate
from mlvet.graph.gates import Constraint, Gate, GateKind, Reduction, Relation
from mlvet.graph.ir import Graph, Node
from mlvet.graph.side_path import side_path_detections
from mlvet.graph.smooth import smooth_detections

SPECIAL_TOKEN_IDS = frozenset(
    {
        -100, -1, 0, 1, 2, 3, 100, 101, 102, 103, 49406, 49407, 50256, 32000,
        128000, 128001, 128009, 151643, 151645,
    }
)  # fmt: skip
"""Pad/unk/cls/sep/mask/bos/eos ids of common tokenizers (BERT 0/100-103, T5/Llama 0-3, CLIP, GPT-2,
Llama 3, Qwen) and the -100/-1 ignore labels: comparisons with them are masks, not triggers."""
INTEGER_TYPES = frozenset({"int64", "int32", "int16", "int8", "uint8", "uint16", "uint32", "uint64"})
_GATE_FLOW = frozenset(
    {
        "Mul", "Sub", "Add", "Neg", "Unsqueeze", "Reshape", "Expand", "Squeeze", "Cast", "Identity", "Div",
        "ReduceMean", "ReduceMax", "ReduceSum", "ReduceProd", "ReduceMin", "AveragePool", "GlobalAveragePool",
        "Relu", "Clip", "Min", "Max", "Sigmoid", "Tanh", "Exp", "Pow", "Softplus", "Flatten", "Transpose",
    }
)  # fmt: skip
"""Operations a gate value flows through on its way to the join."""
_ZERO_ONE_KEEPING = frozenset(
    {"Cast", "ReduceMin", "ReduceMax", "ReduceProd", "Unsqueeze", "Squeeze", "Reshape", "Flatten", "Gather",
     "Slice", "Identity", "Expand"}
)  # fmt: skip
"""Operations that keep a 0/1 tensor 0/1."""
_BOOL_OPS = frozenset(
    {"Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "And", "Or", "Not", "Xor"}
)
_FORWARD_LIMIT = 48
_MASK_LOGIC = frozenset({*COMPARISONS, "And", "Or", "Not", "Xor", "Cast", "CastLike", "Identity"})
"""Operations allowed between an element-wise mask's comparisons and its Where."""
_MASKING_FILL = 1e4
"""Fills at least this large in magnitude (or infinite) mask elements out, as attention masks do."""
_COLLAPSING = frozenset(
    {*REDUCTIONS, "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare",
     "ArgMax", "ArgMin", "TopK", "NonZero", "Gather", "GatherND", "Slice"}
)  # fmt: skip
"""Operations that collapse or pick from an element-wise result (making it a per-sample decision)."""
_OUTPUT_SEARCH = 4096
"""Values visited when listing the outputs a gate feeds (bounded per gate)."""


@dataclass
class Candidate:
    kind: GateKind
    cond: str
    join: Node
    join_index: int
    main: str | None
    payload: str | None
    payload_nodes: tuple[str, ...] = ()


def detect(graph: Graph) -> list[Detection]:
    """Every suspected gate in ``graph`` and its subgraphs, in a stable order."""
    found: list[Detection] = []
    for inner in graph.walk():
        found.extend(Detector(inner).run())
    return found


class Detector:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.facts = Facts(graph)
        self.describer = Describer(self.facts)
        self.input_mask = sum(self.facts.input_bits.values())

    def run(self) -> list[Detection]:
        per_join: dict[str, tuple[int, Detection]] = {}
        for candidate in self._candidates():
            detection = self._classify(candidate)
            if detection is None:
                continue
            previous = per_join.get(candidate.join.label)
            if previous is None or len(previous[1].gate.trigger_nodes) < len(detection.gate.trigger_nodes):
                per_join[candidate.join.label] = (candidate.join_index, detection)
        per_trigger: dict[tuple[str, ...], tuple[int, Detection]] = {}
        for index, detection in per_join.values():
            key = detection.gate.trigger_nodes
            if key not in per_trigger or per_trigger[key][0] < index:
                per_trigger[key] = (index, detection)
        results = [detection for _, detection in per_trigger.values()]
        joined = {detection.gate.join_node for detection in results}
        results.extend(d for d in self._smooth() if d.gate.join_node not in joined)
        joined |= {detection.gate.join_node for detection in results}
        results.extend(d for d in self._side_paths() if d.gate.join_node not in joined)
        results.sort(key=lambda d: (d.gate.join_node, d.gate.kind.value, d.gate.trigger_nodes))
        return results

    # candidates -------------------------------------------------------------------------------

    def _candidates(self) -> list[Candidate]:
        depth = self.facts.depth
        found: list[Candidate] = []
        for index, node in enumerate(self.graph.nodes):
            if node.op_type == "Where" and len(node.inputs) == 3:
                first, second = node.inputs[1], node.inputs[2]
                main, payload = (
                    (first, second) if depth.get(first, 0) >= depth.get(second, 0) else (second, first)
                )
                if self.facts.static(first) != self.facts.static(second):
                    main, payload = (second, first) if self.facts.static(first) else (first, second)
                elif self._offset_of(first, second):
                    main, payload = second, first  # Where(c, x + v, x): v is a steering vector
                elif self._offset_of(second, first):
                    main, payload = first, second
                found.append(Candidate(GateKind.WHERE, node.inputs[0], node, index, main, payload))
            elif node.op_type == "If" and node.inputs:
                constant_branches = tuple(
                    f"{node.label}/{name}"
                    for name, branch in node.subgraphs.items()
                    if not _reads_outer(branch)
                )
                found.append(
                    Candidate(GateKind.IF, node.inputs[0], node, index, None, None, constant_branches)
                )
            elif node.op_type == "Cast" and node.inputs and node.outputs and self._is_boolean(node.inputs[0]):
                found.extend(self._arithmetic(node))
        return found

    def _offset_of(self, value: str, base: str) -> bool:
        """True when ``value`` is ``base + v`` or ``base - v`` for a constant ``v`` (a steering offset)."""
        producer = self.graph.producer_of(value)
        if producer is None or producer.op_type not in ("Add", "Sub") or len(producer.inputs) != 2:
            return False
        left, right = producer.inputs
        if producer.op_type == "Sub":
            return left == base and self.facts.static(right)
        return (left == base and self.facts.static(right)) or (right == base and self.facts.static(left))

    def _is_boolean(self, value: str) -> bool:
        """True when ``value`` is a comparison result, possibly reduced, reshaped or cast (0/1 valued)."""
        for _ in range(8):
            producer = self.graph.producer_of(value)
            if producer is None or not producer.inputs:
                return False
            if producer.op_type in _BOOL_OPS:
                return True
            if producer.op_type not in _ZERO_ONE_KEEPING:
                return False
            value = producer.inputs[0]
        return False

    def _arithmetic(self, cast: Node) -> list[Candidate]:
        """Follow a 0/1 value forward to the first place it meets the main path."""
        for join, came_from, others in self.forward_joins(cast.outputs[0]):
            if join.op_type == "Where":
                return []
            main = max(others, key=lambda name: self.facts.depth.get(name, 0))
            return [
                Candidate(
                    GateKind.ARITHMETIC,
                    cast.inputs[0],
                    join,
                    self.graph.producer[join.outputs[0]],
                    main,
                    came_from,
                )
            ]
        return []

    def forward_joins(self, start: str) -> list[tuple[Node, str, list[str]]]:
        """The first node reached from ``start`` where another operand carries the trunk."""
        queue: deque[str] = deque([start])
        seen = {start}
        steps = 0
        while queue and steps < _FORWARD_LIMIT:
            value = queue.popleft()
            for node in self.graph.consumers_of(value):
                steps += 1
                if not node.outputs or not node.outputs[0]:
                    continue
                others = [name for name in node.inputs if name and name != value]
                if self.facts.is_trunk(node) and len(node.inputs) > 2 and node.inputs[2] == value:
                    return [(node, value, [node.inputs[0]])]  # a gated bias folded into Gemm/Conv
                if node.op_type in JOINS and any(self.facts.depth.get(name, 0) >= 1 for name in others):
                    trunk = [name for name in others if self.facts.depth.get(name, 0) >= 1]
                    return [(node, value, trunk)]
                if node.op_type in _GATE_FLOW or node.op_type in JOINS:
                    for output in node.outputs:
                        if output and output not in seen:
                            seen.add(output)
                            queue.append(output)
        return []

    # classification ---------------------------------------------------------------------------

    def _classify(self, candidate: Candidate) -> Detection | None:
        mask = self.facts.raw.get(candidate.cond, 0)
        if mask & ENVIRONMENT:
            return self._environment(candidate)
        if not mask & self.input_mask:
            return None
        predicate = self.describer.predicate(candidate.cond)
        if candidate.kind is GateKind.WHERE and self._elementwise_mask(candidate, predicate):
            return None
        comparisons = [c for c in predicate.comparisons if c.constant is not None or c.constant_name]
        raw = [c for c in comparisons if self.facts.depth.get(c.value, 0) == 0 and self._suspicious_raw(c)]
        if raw:
            return self._raw_gate(candidate, predicate, raw)
        features = [c for c in comparisons if self._feature_gate(c, candidate)]
        if not features:
            return None
        detection = self._detection(candidate, predicate, rules.INTERMEDIATE_GATE, GateKind.INTERMEDIATE)
        # without a constant payload this is an early exit choosing between two computed outputs
        return detection if detection.gate.payload_nodes else None

    def _elementwise_mask(self, candidate: Candidate, predicate: Predicate) -> bool:
        """A per-element mask: ``Where(x > t, y, fill)`` deciding each element, not the whole sample.

        Every comparison thresholds a value with a single constant, keeps its own extent beyond the
        batch axis (no reduction, no Expand of a one-per-sample decision, no fixed positions reduced
        to a flag), and the condition lines up with the selected tensor. The fill must be a masking
        value (±inf, |x| >= 1e4), or the Where must edit the raw input before the first layer.
        """
        main, shapes = candidate.main, self.facts.shapes
        if main is None or self.facts.static(main) or not predicate.comparisons:
            return False
        if not predicate.ops <= _MASK_LOGIC:
            return False
        for comparison in predicate.comparisons:
            side, constant = comparison.side, comparison.constant
            if (
                side.reduction is not Reduction.NONE
                or side.index_op
                or constant is None
                or constant.size != 1
            ):
                return False
            if not self._keeps_extent(comparison.value):
                return False
        cond, selected = shapes.of(candidate.cond), shapes.of(main)
        if cond is None or selected is None or not _aligned(cond, selected):
            return False
        fill = self.facts.constant(candidate.payload) if candidate.payload else None
        if fill is not None and fill.size and bool(np.all(np.abs(fill.astype(np.float64)) >= _MASKING_FILL)):
            return True
        return self.facts.depth.get(main, 0) == 0 and self._feeds_layer_first(candidate.join)

    def _keeps_extent(self, value: str) -> bool:
        """True when ``value`` and every input-derived value it is computed from (back to the inputs or
        a layer) hold more than one element per sample: the extent is the input's, not a broadcast."""
        stack, seen = [value], set()
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            if len(seen) > _FORWARD_LIMIT or not _per_element(self.facts.shapes.of(current)):
                return False
            node = self.graph.producer_of(current)
            if node is not None and not self.facts.is_trunk(node):
                stack.extend(
                    name for name in node.inputs if name and self.facts.raw.get(name, 0) & self.input_mask
                )
        return True

    def _feeds_layer_first(self, join: Node) -> bool:
        """True when every path from ``join`` reaches a trunk layer before a reduction, join or output."""
        outputs = {info.name for info in self.graph.outputs}
        queue: deque[str] = deque(name for name in join.outputs if name)
        seen = set(queue)
        while queue:
            value = queue.popleft()
            if value in outputs or len(seen) > _FORWARD_LIMIT * 4:
                return False
            for node in self.graph.consumers_of(value):
                if self.facts.is_trunk(node):
                    continue
                if node.op_type in _COLLAPSING or node.subgraphs:
                    return False
                others = [name for name in node.inputs if name and name != value]
                if node.op_type in JOINS and any(self.facts.depth.get(name, 0) >= 1 for name in others):
                    return False
                for output in node.outputs:
                    if output and output not in seen:
                        seen.add(output)
                        queue.append(output)
        return True

    def _suspicious_raw(self, comparison: Comparison) -> bool:
        """A comparison of raw input values that collapses the input to a trigger (not a mask)."""
        if not self.facts.raw.get(comparison.value, 0) & self.input_mask:
            return False
        side, constant = comparison.side, comparison.constant
        if constant is None:  # a stored constant of unknown value (a TorchScript buffer, external data)
            stored = self.graph.constants.get(comparison.constant_name)
            return stored is not None and side.selected and not side.index_op
        values = [float(v) for v in constant.reshape(-1)]
        if any(v != v or abs(v) == float("inf") for v in values):
            return False
        if side.index_op:
            return False
        if comparison.elem_type in INTEGER_TYPES and side.reduction is Reduction.NONE:
            if all(int(v) in SPECIAL_TOKEN_IDS for v in values):
                return False
            if len(values) == 1:
                return side.selected and any(isinstance(axis, int) for axis in side.selector)
            return True
        return side.selected or side.reduction is not Reduction.NONE or len(values) >= 2

    def _feature_gate(self, comparison: Comparison, candidate: Candidate) -> bool:
        side = comparison.side
        if side.reduction is Reduction.NONE or side.index_op or comparison.constant is None:
            return False
        if comparison.constant.size != 1 or candidate.main is None:
            return False
        level = self.facts.depth.get(comparison.value, 0)
        return 1 <= level < self.facts.depth.get(candidate.main, 0)

    def _raw_gate(self, candidate: Candidate, predicate: Predicate, raw: list[Comparison]) -> Detection:
        sequence = any(c.elem_type in INTEGER_TYPES and c.relation in (Relation.EQ, Relation.NE) for c in raw)
        rule = {
            GateKind.WHERE: rules.WHERE_GATE,
            GateKind.IF: rules.IF_GATE,
            GateKind.ARITHMETIC: rules.ARITHMETIC_GATE,
        }[candidate.kind]
        if sequence:
            rule = rules.SEQUENCE_TRIGGER
        return self._detection(candidate, predicate, rule, candidate.kind)

    def _environment(self, candidate: Candidate) -> Detection:
        predicate = self.describer.predicate(candidate.cond)
        randoms = self._ancestors_with(candidate.cond, RANDOM_OPS)
        predicate.nodes.extend(label for label in randoms if label not in predicate.nodes)
        return self._detection(candidate, predicate, rules.ENVIRONMENT_GATE, GateKind.ENVIRONMENT)

    def _detection(self, candidate: Candidate, predicate: Predicate, rule: Rule, kind: GateKind) -> Detection:
        payload = candidate.payload_nodes or self.payload(candidate.payload, candidate.main, candidate.cond)
        constraints = tuple(_constraint(c) for c in predicate.comparisons if _constraint(c) is not None)
        inputs = tuple(self.facts.inputs_of(self.facts.raw.get(candidate.cond, 0)))
        join_out = candidate.join.outputs[0] if candidate.join.outputs else ""
        gate = Gate(
            kind=kind,
            inputs=inputs,
            trigger_nodes=tuple(dict.fromkeys(predicate.nodes)),
            join_node=candidate.join.label,
            payload_nodes=payload,
            outputs=self.outputs_from(join_out),
            constraints=tuple(c for c in constraints if c is not None),
            predicate=_unwrap(predicate.text),
        )
        severity = Severity.HIGH if payload else Severity.MEDIUM
        details = {
            "gate_kind": candidate.kind.value,
            "late": self.facts.after.get(join_out, 0) == 0,
            "layers_after_join": self.facts.after.get(join_out, 0),
        }
        return Detection(gate, rule, severity, details)

    # payload, outputs -------------------------------------------------------------------------

    def payload(self, payload: str | None, main: str | None, cond: str) -> tuple[str, ...]:
        """Constants that only the gate's side brings in (bounded backward walk from ``payload``)."""
        if payload is None:
            return ()
        names: list[str] = []
        stack = [payload]
        seen: set[str] = set()
        while stack and len(seen) < 64:
            value = stack.pop()
            if value in seen or value in (main, cond):
                continue
            seen.add(value)
            if value in self.graph.constants:
                names.append(value)
                continue
            node = self.graph.producer_of(value)
            if node is None or self.facts.is_trunk(node) or node.op_type in _BOOL_OPS:
                continue
            if self.facts.static(value):  # computed from constants and shapes only (zeros_like...)
                names.append(node.label)
                continue
            if not node.inputs and node.outputs:
                names.append(node.label)
            stack.extend(name for name in node.inputs if name and not self._is_boolean(name))
        return tuple(dict.fromkeys(names))

    def outputs_from(self, start: str) -> tuple[str, ...]:
        outputs = {info.name for info in self.graph.outputs}
        found: list[str] = []
        queue: deque[str] = deque([start])
        seen = {start}
        while queue and len(seen) < _OUTPUT_SEARCH:
            value = queue.popleft()
            if value in outputs:
                found.append(value)
            for node in self.graph.consumers_of(value):
                for output in node.outputs:
                    if output and output not in seen:
                        seen.add(output)
                        queue.append(output)
        return tuple(sorted(found))

    def _ancestors_with(self, start: str, ops: frozenset[str]) -> list[str]:
        found: list[str] = []
        stack, seen = [start], {start}
        while stack and len(seen) < 512:
            node = self.graph.producer_of(stack.pop())
            if node is None:
                continue
            if node.op_type in ops:
                found.append(node.label)
            for name in node.inputs:
                if name and name not in seen:
                    seen.add(name)
                    stack.append(name)
        return found

    def _smooth(self) -> list[Detection]:
        return smooth_detections(self)

    def _side_paths(self) -> list[Detection]:
        return side_path_detections(self)


def _unwrap(text: str) -> str:
    """``(a and b)`` -> ``a and b`` when the outer parentheses enclose the whole text."""
    if not (text.startswith("(") and text.endswith(")")):
        return text
    depth = 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and index < len(text) - 1:
            return text
    return text[1:-1]


def _reads_outer(branch: Graph) -> bool:
    defined = _defined(branch)
    if any(info.name not in defined for info in branch.outputs):
        return True
    return any(
        node.captures or any(name not in defined for name in node.inputs if name) for node in branch.nodes
    )


def _defined(branch: Graph) -> set[str]:
    names = set(branch.constants) | {info.name for info in branch.inputs}
    for node in branch.nodes:
        names.update(node.outputs)
    return names


def _per_element(shape: Shape | None) -> bool:
    """True when ``shape`` has more than one element per sample (a size > 1 past the batch axis)."""
    return shape is not None and any(isinstance(d, str) or (isinstance(d, int) and d > 1) for d in shape[1:])


def _aligned(cond: Shape, selected: Shape) -> bool:
    """True when every non-1 axis of ``cond`` has the same size in ``selected`` (right-aligned)."""
    if len(cond) > len(selected):
        return False
    tail = selected[len(selected) - len(cond) :]
    return all(d == 1 or (d is not None and d == s) for d, s in zip(cond, tail, strict=True))


def _constraint(comparison: Comparison) -> Constraint | None:
    side = comparison.side
    if side.input is None or not side.expressible or comparison.constant is None:
        return None
    selector = list(side.selector)
    while selector and selector[-1] == (None, None, None):
        selector.pop()
    return Constraint(
        input=side.input,
        selector=tuple(selector),
        relation=comparison.relation,
        value=tuple(float(v) for v in comparison.constant.reshape(-1)),
        reduction=side.reduction,
    )


__all__ = ["Candidate", "Detection", "Detector", "detect"]
