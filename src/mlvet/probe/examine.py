"""Probe one gate: find an input that opens it, then prove by execution that it changes the output.

The proof has two parts: the triggered input's outputs differ from the clean input's, and running
the triggered input again with the gate's condition held at its clean value gives different outputs
(so the change comes from the gate, not from the few input elements the trigger touched).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx

from mlvet.graph.gates import Gate, GateKind
from mlvet.probe.condition import condition_tensor, is_open, trigger_constants, trigger_tensors
from mlvet.probe.errors import RunnerError
from mlvet.probe.region import read_region
from mlvet.probe.run import ModelRunner, held_constant
from mlvet.probe.search import GateProbe, search
from mlvet.probe.solve import Unsolvable, selection, solve
from mlvet.probe.spec import InputSpec

Feed = dict[str, np.ndarray]
CHANGE_TOLERANCE = 1e-6
REPEATS = 64
"""Runs of one input that an environment gate gets to show it is not deterministic."""


@dataclass(frozen=True)
class OutputChange:
    """How one graph output differs between two runs."""

    max_abs_diff: float
    argmax_flips: int
    changed_elements: int


@dataclass
class GateOutcome:
    """Everything learnt about one gate by running the model."""

    gate: Gate
    condition: str | None
    clean: Feed
    triggered: Feed | None = None
    method: str | None = None
    """``constraints`` (solved) or ``search``."""
    evaluations: int = 0
    solve_note: str | None = None
    clean_vs_triggered: dict[str, OutputChange] = field(default_factory=dict)
    gate_effect: dict[str, OutputChange] | None = None
    error: str | None = None
    regions: dict[str, np.ndarray] = field(default_factory=dict)
    """Per input, the elements the trigger reads."""

    @property
    def opened(self) -> bool:
        return self.triggered is not None

    @property
    def changes_output(self) -> bool:
        changed = any(c.changed_elements for c in self.clean_vs_triggered.values())
        if self.gate_effect is None:
            return changed
        return changed and any(c.changed_elements for c in self.gate_effect.values())

    @property
    def confirmed(self) -> bool:
        return self.opened and self.changes_output

    def trigger_positions(self, name: str) -> np.ndarray:
        """Flat indices of the trigger in input ``name``: the constrained elements and every change."""
        if self.triggered is None:
            return np.zeros(0, dtype=np.int64)
        mask = self.triggered[name] != self.clean[name]
        region = self.regions.get(name)
        if self.method == "search" and region is not None and mask.any() and not region.all():
            mask |= region
        if self.method == "constraints":
            for constraint in self.gate.constraints:
                if constraint.input == name:
                    mask[selection(constraint)] = True
        return np.flatnonzero(mask)


def probe_tensors(model: onnx.ModelProto, gates: Sequence[Gate]) -> dict[Gate, tuple[str | None, list[str]]]:
    """For each gate, its condition tensor and its trigger nodes' outputs."""
    tensors = {}
    for gate in gates:
        condition = condition_tensor(model, gate)
        tensors[gate] = (condition, trigger_tensors(model, gate, condition))
    return tensors


def examine_gate(
    model: onnx.ModelProto,
    runner: ModelRunner,
    gate: Gate,
    tensors: tuple[str | None, list[str]],
    specs: Sequence[InputSpec],
    clean: Feed,
    *,
    budget: int,
    rng: np.random.Generator,
) -> GateOutcome:
    condition, trigger_values = tensors
    outcome = GateOutcome(gate, condition, clean)
    if condition is None or condition not in runner.probe_names:
        outcome.error = "the gate's condition is not a tensor of the main graph, so it cannot be watched"
        return outcome
    try:
        if gate.kind is GateKind.ENVIRONMENT:
            _repeat(runner, outcome, budget)
            return outcome
        _open(model, runner, outcome, trigger_values, specs, budget, rng)
        if outcome.triggered is not None:
            _measure(model, runner, outcome)
    except RunnerError as exc:
        outcome.error = str(exc)
    return outcome


def _open(
    model: onnx.ModelProto,
    runner: ModelRunner,
    outcome: GateOutcome,
    trigger_values: list[str],
    specs: Sequence[InputSpec],
    budget: int,
    rng: np.random.Generator,
) -> None:
    assert outcome.condition is not None
    reference = runner.run(outcome.clean)
    outcome.evaluations += 1
    gate_probe = GateProbe(
        condition=outcome.condition,
        trigger_values=tuple(t for t in trigger_values if t in runner.probe_names),
        reference=reference.probes,
        regions={spec.name: read_region(model, outcome.gate, spec) for spec in specs},
        constants=tuple(trigger_constants(model, outcome.gate)),
    )
    outcome.regions = dict(gate_probe.regions)
    start: Feed = outcome.clean
    if outcome.gate.constraints:
        try:
            solved = solve(outcome.gate.constraints, specs, outcome.clean)
        except Unsolvable as exc:
            outcome.solve_note = f"constraints not solvable: {exc}"
        else:
            outcome.evaluations += 1
            if gate_probe.opened(runner.run(solved)):
                outcome.triggered, outcome.method = solved, "constraints"
                return
            outcome.solve_note = "the solved input did not open the gate"
            start = solved
    else:
        outcome.solve_note = "no constraints were extracted"
    remaining = max(budget - outcome.evaluations, 0)
    result = search(runner, gate_probe, specs, start, budget=remaining, rng=rng)
    outcome.evaluations += result.evaluations
    if result.feed is not None:
        outcome.triggered, outcome.method = result.feed, "search"


def _repeat(runner: ModelRunner, outcome: GateOutcome, budget: int) -> None:
    """An environment gate needs no trigger: run one input again and again until the gate moves."""
    assert outcome.condition is not None
    first = runner.run(outcome.clean)
    outcome.evaluations += 1
    while outcome.evaluations < min(budget, REPEATS):
        again = runner.run(outcome.clean)
        outcome.evaluations += 1
        if is_open(again.probes[outcome.condition], first.probes[outcome.condition]):
            outcome.triggered, outcome.method = outcome.clean, "repeat"
            outcome.clean_vs_triggered = compare(first.outputs, again.outputs)
            return


def _measure(model: onnx.ModelProto, runner: ModelRunner, outcome: GateOutcome) -> None:
    assert outcome.triggered is not None and outcome.condition is not None
    clean = runner.run(outcome.clean)
    triggered = runner.run(outcome.triggered)
    outcome.evaluations += 2
    outcome.clean_vs_triggered = compare(clean.outputs, triggered.outputs)
    if outcome.condition in {v.name for v in model.graph.input}:
        return
    closed_value = clean.probes[outcome.condition]
    try:
        held = ModelRunner(held_constant(model, outcome.condition, closed_value))
        closed = held.run(outcome.triggered)
    except RunnerError:
        return
    outcome.evaluations += 1
    outcome.gate_effect = compare(closed.outputs, triggered.outputs)


def compare(before: Mapping[str, np.ndarray], after: Mapping[str, np.ndarray]) -> dict[str, OutputChange]:
    """Per output: the largest absolute difference, argmax flips over the last axis, changed elements."""
    changes = {}
    for name, old in before.items():
        new = after[name]
        if old.shape != new.shape:
            changes[name] = OutputChange(float("inf"), 0, max(old.size, new.size))
            continue
        if old.dtype.kind in "fciub" and new.dtype.kind in "fciub":
            delta = np.abs(old.astype(np.float64) - new.astype(np.float64))
            delta = np.where(np.isnan(delta), np.where(np.isnan(old) == np.isnan(new), 0.0, np.inf), delta)
            changed = int(np.count_nonzero(delta > CHANGE_TOLERANCE))
            largest = float(delta.max(initial=0.0))
        else:
            changed = int(np.count_nonzero(old != new))
            largest = float(changed > 0)
        flips = 0
        if old.ndim >= 1 and old.shape[-1] > 1 and old.dtype.kind == "f":
            flips = int(np.count_nonzero(np.argmax(old, axis=-1) != np.argmax(new, axis=-1)))
        changes[name] = OutputChange(largest, flips, changed)
    return changes
