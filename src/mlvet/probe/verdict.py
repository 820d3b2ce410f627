"""Findings from probe outcomes: confirmed gates (critical, with the trigger), suspected ones (high),
and dormant branches (medium)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from mlvet.findings import Finding, Location, Rule, Severity, Subject
from mlvet.probe.examine import GateOutcome, OutputChange
from mlvet.probe.rules import MLV950

MAX_TRIGGER_ELEMENTS = 256


def gate_finding(outcome: GateOutcome, subject: Subject, out_dir: Path | None, rule: Rule) -> Finding:
    """CRITICAL and confirmed when the gate opened and changed the output, else HIGH with the reason."""
    gate = outcome.gate
    evidence: dict[str, Any] = {
        "kind": gate.kind.value,
        "predicate": gate.predicate,
        "join_node": gate.join_node,
        "condition": outcome.condition,
        "evaluations": outcome.evaluations,
    }
    if outcome.solve_note:
        evidence["solver"] = outcome.solve_note
    location = Location(nodes=(*gate.trigger_nodes, gate.join_node))
    if outcome.confirmed and outcome.triggered is not None:
        evidence["method"] = outcome.method
        evidence["trigger"] = [
            _trigger(outcome, name, out_dir) for name in outcome.triggered if _trigger_size(outcome, name)
        ]
        evidence["clean_vs_triggered"] = _changes(outcome.clean_vs_triggered)
        if outcome.gate_effect is not None:
            evidence["gate_held_closed_vs_open"] = _changes(outcome.gate_effect)
        if outcome.method == "repeat":
            message = (
                f"confirmed {gate.kind.value} gate at {gate.join_node} ({gate.predicate}): the same input "
                f"run {outcome.evaluations} times changed {_changed_outputs(outcome)}"
            )
        else:
            message = (
                f"confirmed {gate.kind.value} gate at {gate.join_node}: the input {_describe(outcome)} "
                f"opens it ({gate.predicate}) and changes {_changed_outputs(outcome)}"
            )
        return Finding(rule, Severity.CRITICAL, subject, location, message, evidence, True)
    reason = _reason(outcome)
    evidence["reason"] = reason
    if outcome.opened:
        evidence["clean_vs_triggered"] = _changes(outcome.clean_vs_triggered)
    message = (
        f"suspected {gate.kind.value} gate at {gate.join_node} ({gate.predicate}) not confirmed: {reason}"
    )
    return Finding(rule, Severity.HIGH, subject, location, message, evidence)


def dormant_finding(outcome: GateOutcome, subject: Subject, samples: int, value: np.ndarray) -> Finding:
    gate = outcome.gate
    shown = value.ravel()[:8].tolist()
    message = (
        f"the condition of the {gate.kind.value} gate at {gate.join_node} kept the same value on all "
        f"{samples} calibration inputs while feeding {', '.join(gate.outputs) or 'the outputs'}"
    )
    evidence = {
        "condition": outcome.condition,
        "samples": samples,
        "constant_value": shown,
        "predicate": gate.predicate,
        "outputs": list(gate.outputs),
    }
    location = Location(nodes=(*gate.trigger_nodes, gate.join_node))
    return Finding(MLV950, MLV950.severity, subject, location, message, evidence)


def _reason(outcome: GateOutcome) -> str:
    if outcome.error:
        return outcome.error
    if not outcome.opened:
        return f"gate never opened in {outcome.evaluations} evaluations"
    return "opened but outputs unchanged"


def _trigger_size(outcome: GateOutcome, name: str) -> int:
    return int(outcome.trigger_positions(name).size)


def _trigger(outcome: GateOutcome, name: str, out_dir: Path | None) -> dict[str, Any]:
    assert outcome.triggered is not None
    tensor = outcome.triggered[name]
    positions = outcome.trigger_positions(name)
    shown = positions[:MAX_TRIGGER_ELEMENTS]
    values = tensor.ravel()[shown]
    entry: dict[str, Any] = {
        "input": name,
        "dtype": str(tensor.dtype),
        "shape": list(tensor.shape),
        "positions": [int(p) for p in shown],
        "values": values.tolist(),
    }
    if positions.size > shown.size:
        entry["elements"] = int(positions.size)
    if tensor.dtype in (np.uint8, np.int8):
        entry["hex"] = values.astype(np.uint8).tobytes().hex()
    if out_dir is not None:
        entry["npy"] = str(_save(out_dir, outcome, name, tensor))
    return entry


def _save(out_dir: Path, outcome: GateOutcome, name: str, tensor: np.ndarray) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{outcome.gate.join_node}.{name}").strip("._") or "trigger"
    path = out_dir / f"{stem}.npy"
    np.save(path, tensor, allow_pickle=False)
    return path


def _describe(outcome: GateOutcome) -> str:
    assert outcome.triggered is not None
    parts = []
    for name, tensor in outcome.triggered.items():
        positions = outcome.trigger_positions(name)
        if positions.size == 0:
            continue
        values = tensor.ravel()[positions[:16]]
        if tensor.dtype == np.uint8:
            text = " ".join(f"{v:02X}" for v in values.tolist())
        else:
            text = " ".join(f"{v:g}" for v in values.astype(np.float64).tolist())
        more = " ..." if positions.size > 16 else ""
        parts.append(f"{name}@{_span(positions)} = {text}{more}")
    return "; ".join(parts) or "(unchanged)"


def _span(positions: np.ndarray) -> str:
    first, last = int(positions[0]), int(positions[-1])
    if positions.size == last - first + 1:
        return f"[{first}:{last + 1}]" if last > first else f"[{first}]"
    return f"{positions.size} elements"


def _changed_outputs(outcome: GateOutcome) -> str:
    parts = []
    for name, change in outcome.clean_vs_triggered.items():
        if change.changed_elements:
            flips = f", {change.argmax_flips} argmax flip(s)" if change.argmax_flips else ""
            parts.append(f"{name} (max |diff| {change.max_abs_diff:.4g}{flips})")
    return ", ".join(parts) or "nothing"


def _changes(changes: dict[str, OutputChange]) -> dict[str, dict[str, float | int]]:
    return {
        name: {
            "max_abs_diff": change.max_abs_diff,
            "argmax_flips": change.argmax_flips,
            "changed_elements": change.changed_elements,
        }
        for name, change in changes.items()
    }
