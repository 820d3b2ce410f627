"""Detections as ``mlvet scan`` findings: one finding per gate, with JSON-serialisable evidence."""

from __future__ import annotations

from typing import Any

from mlvet.findings import Location
from mlvet.graph.detection import Detection
from mlvet.graph.gates import Constraint, Gate
from mlvet.scan.base import ScanContext

MAX_LISTED = 20


def report_detections(detections: list[Detection], ctx: ScanContext, where: str = "") -> None:
    """Report each detection through ``ctx`` (``where`` prefixes the message, e.g. a code file)."""
    for detection in detections:
        gate = detection.gate
        ctx.report(
            detection.rule,
            (where + ": " if where else "") + gate_message(gate),
            location=Location(nodes=(gate.join_node, *gate.trigger_nodes[: MAX_LISTED - 1])),
            evidence=gate_evidence(detection),
            severity=detection.severity,
        )


def gate_message(gate: Gate) -> str:
    payload = ", ".join(gate.payload_nodes[:3]) + (" ..." if len(gate.payload_nodes) > 3 else "")
    outputs = ", ".join(gate.outputs[:3]) or "the model's outputs"
    carries = f", bringing in {payload}" if payload else ""
    if gate.predicate.startswith("side branch"):
        return f"{gate.predicate} at node {gate.join_node!r}{carries} (feeds {outputs})"
    opens = f"{gate.kind.value} gate at node {gate.join_node!r} opens when {gate.predicate}"
    return f"{opens}{carries} (feeds {outputs})"


def gate_evidence(detection: Detection) -> dict[str, Any]:
    gate = detection.gate
    return {
        "kind": gate.kind.value,
        "predicate": gate.predicate,
        "inputs": list(gate.inputs),
        "trigger_nodes": list(gate.trigger_nodes[:MAX_LISTED]),
        "join_node": gate.join_node,
        "payload_nodes": list(gate.payload_nodes[:MAX_LISTED]),
        "outputs": list(gate.outputs[:MAX_LISTED]),
        "constraints": [constraint_json(c) for c in gate.constraints[:MAX_LISTED]],
        **{key: _plain(value) for key, value in detection.details.items()},
    }


def constraint_json(constraint: Constraint) -> dict[str, Any]:
    return {
        "input": constraint.input,
        "selector": [list(axis) if isinstance(axis, tuple) else axis for axis in constraint.selector],
        "relation": constraint.relation.value,
        "value": list(constraint.value[:256]),
        "reduction": constraint.reduction.value,
    }


def _plain(value: Any) -> Any:
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    return str(value)
