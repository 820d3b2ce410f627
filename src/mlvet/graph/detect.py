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

from mlvet.findings import Rule, Severity
from mlvet.graph import rules
from mlvet.graph.branches import injected_constants, reads_outer
from mlvet.graph.comparisons import INTEGER_TYPES, feature_gate, suspicious_raw
from mlvet.graph.dataflow import ENVIRONMENT, JOINS, RANDOM_OPS, Facts
from mlvet.graph.detection import Detection
from mlvet.graph.expressions import Comparison, Describer, Predicate
from mlvet.graph.gates import Constraint, Gate, GateKind, Relation
from mlvet.graph.ir import Graph, Node
from mlvet.graph.masks import elementwise_mask
from mlvet.graph.scopes import ScopeView, ViewBudget, scope_views
from mlvet.graph.side_path import side_path_detections
from mlvet.graph.smooth import smooth_detections

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
_SHAPING = frozenset({"Reshape", "Expand", "Tile", "Unsqueeze", "Squeeze", "Slice", "Pad"})
"""Operations whose inputs past the first are shapes, axes or indexes, never a payload."""
_VIEW_DEPTH = 8
"""Bodies nested in bodies are viewed down to this depth."""
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
    scaled: tuple[str, ...] = ()
    """Constants the gate value multiplies elsewhere (``P * g`` beside ``x * (1 - g)``)."""


def detect(graph: Graph) -> list[Detection]:
    """Every suspected gate in ``graph`` and its subgraphs, in a stable order.

    Each graph is analysed on its own, then each body that reads an input-dependent outer value is
    analysed again in place (``scopes``): gates found there whose join lies in the body are added.
    """
    found: list[Detection] = []
    budget = ViewBudget()
    for inner in graph.walk():
        detector = Detector(inner)
        found.extend(detector.run())
        joins = {detection.gate.join_node for detection in found}
        for view in scope_views(inner, detector.facts, budget):
            for detection in _in_body(view, budget):
                if detection.gate.join_node not in joins:
                    joins.add(detection.gate.join_node)
                    found.append(detection)
    return found


def _in_body(view: ScopeView, budget: ViewBudget, depth: int = 0) -> list[Detection]:
    """Gates of a scope view that join inside the inlined body (nested bodies viewed in turn)."""
    detector = Detector(view.graph)
    found = [d for d in detector.run() if d.gate.join_node in view.body]
    if depth < _VIEW_DEPTH:
        for nested in scope_views(view.graph, detector.facts, budget, among=view.body):
            found.extend(_in_body(nested, budget, depth + 1))
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
                    payload
                    for name, branch in node.subgraphs.items()
                    for payload in (
                        injected_constants(node, name, branch)
                        if reads_outer(branch)
                        else (f"{node.label}/{name}",)
                    )
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
                    scaled=self._scaled_by(cast.outputs[0]),
                )
            ]
        return []

    def _scaled_by(self, gate: str) -> tuple[str, ...]:
        """Constants multiplied by ``gate`` (through reshapes): the payload half of a 0/1 blend."""
        found: list[str] = []
        stack, seen = [gate], {gate}
        while stack and len(seen) < _FORWARD_LIMIT:
            value = stack.pop()
            for node in self.graph.consumers_of(value):
                if node.op_type in ("Unsqueeze", "Reshape", "Expand", "Squeeze", "Cast"):
                    if node.inputs[0] == value and node.outputs and node.outputs[0] not in seen:
                        seen.add(node.outputs[0])
                        stack.append(node.outputs[0])
                elif node.op_type == "Mul":
                    found.extend(name for name in node.inputs if name != value and _is_payload(self, name))
        return tuple(dict.fromkeys(found))

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
        if candidate.kind is GateKind.WHERE and elementwise_mask(self, candidate, predicate):
            return None
        comparisons = [c for c in predicate.comparisons if c.constant is not None or c.constant_name]
        raw = [c for c in comparisons if self.facts.depth.get(c.value, 0) == 0 and suspicious_raw(self, c)]
        if raw:
            return self._raw_gate(candidate, predicate, raw)
        features = [c for c in comparisons if feature_gate(self, c, candidate)]
        if not features:
            return None
        detection = self._detection(candidate, predicate, rules.INTERMEDIATE_GATE, GateKind.INTERMEDIATE)
        # without a constant payload this is an early exit choosing between two computed outputs
        return detection if detection.gate.payload_nodes else None

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
        randoms = self.graph.ancestors_with(candidate.cond, RANDOM_OPS)
        predicate.nodes.extend(label for label in randoms if label not in predicate.nodes)
        return self._detection(candidate, predicate, rules.ENVIRONMENT_GATE, GateKind.ENVIRONMENT)

    def _detection(self, candidate: Candidate, predicate: Predicate, rule: Rule, kind: GateKind) -> Detection:
        payload = candidate.payload_nodes or tuple(
            dict.fromkeys(
                (*candidate.scaled, *self.payload(candidate.payload, candidate.main, candidate.cond))
            )
        )
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
            data = node.inputs[:1] if node.op_type in _SHAPING else node.inputs  # not shapes/axes
            stack.extend(name for name in data if name and not self._is_boolean(name))
        return tuple(dict.fromkeys(names))

    def outputs_from(self, start: str) -> tuple[str, ...]:
        return self.graph.outputs_reached(start, _OUTPUT_SEARCH)

    def _smooth(self) -> list[Detection]:
        return smooth_detections(self)

    def _side_paths(self) -> list[Detection]:
        return side_path_detections(self)


def _is_payload(detector: Detector, name: str) -> bool:
    """A stored constant other than the scalar 1 (``x * 1`` passes a value on, it injects nothing)."""
    stored = detector.graph.constants.get(name)
    if stored is None:
        return False
    return stored.value is None or stored.value.size > 1 or float(stored.value.reshape(-1)[0]) != 1.0


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
