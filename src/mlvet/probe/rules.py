"""The rule ``mlvet probe`` adds (MLV950), and the detection rule each probed gate is reported under.

A gate is reported under the rule ``mlvet.graph`` gave its detection (so a ``scan`` finding and its
``probe`` confirmation share one ID); a gate handed in without a detection falls back to the graph
rule for its kind.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlvet.findings import Rule, Severity
from mlvet.graph import rules as graph_rules
from mlvet.graph.gates import Gate, GateKind

MLV950 = Rule(
    "MLV950",
    "Dormant branch feeding the outputs",
    Severity.MEDIUM,
    "A suspected gate's condition kept the same value on every calibration input while the branch it "
    "controls feeds a model output. Injected trigger logic is dormant on clean data by design; a "
    "legitimate guard can also be (a NaN check, a clamp that never fires). Inspect the branch, run "
    "'mlvet probe' with representative calibration data, and compare the model with a trusted export.",
    ("https://arxiv.org/abs/2206.07840",),
)

RULES: tuple[Rule, ...] = (MLV950,)

KIND_RULES: Mapping[GateKind, Rule] = {
    GateKind.WHERE: graph_rules.WHERE_GATE,
    GateKind.IF: graph_rules.IF_GATE,
    GateKind.ARITHMETIC: graph_rules.ARITHMETIC_GATE,
    GateKind.SMOOTH: graph_rules.SMOOTH_DETECTOR,
    GateKind.INTERMEDIATE: graph_rules.INTERMEDIATE_GATE,
    GateKind.ENVIRONMENT: graph_rules.ENVIRONMENT_GATE,
}
"""The graph rule for each kind of gate, for gates that come without a detection."""


def gate_rule(gate: Gate, detected: Mapping[Gate, Rule] | None = None) -> Rule:
    """The rule ``mlvet.graph`` reported ``gate`` under, else the graph rule for its kind."""
    if detected and gate in detected:
        return detected[gate]
    return KIND_RULES[gate.kind]


def detected_rules(data: bytes) -> dict[Gate, Rule]:
    """Each gate ``mlvet.graph`` detects in the ONNX model ``data``, with its rule (empty on failure)."""
    try:
        from mlvet.graph.detect import detect
        from mlvet.graph.onnx_import import import_onnx

        return {detection.gate: detection.rule for detection in detect(import_onnx(data))}
    except (ImportError, ValueError):
        return {}
