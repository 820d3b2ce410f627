"""Is a stage's output model equivalent to its input model? Differential testing plus structure.

Both ONNX models run in onnxruntime (``mlvet.probe``'s runner) on generated clean inputs (``probe``'s
input specs) and on inputs built to open every gate ``mlvet.graph.find_gates`` suspects in either
model (``probe``'s constraint solver and search). An output that differs beyond the stage's
tolerance on any input fails the stage. The structural comparison (``mlvet.diff.topology``) flags
control flow, gates, graph inputs and late side paths the output has and its input did not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlvet.errors import InputError
from mlvet.provenance.lineage.policy import Tolerance

if TYPE_CHECKING:
    import onnx

    from mlvet.graph.gates import Gate
    from mlvet.probe.run import ModelRunner
    from mlvet.probe.spec import InputSpec

Feed = dict[str, np.ndarray]
GATE_BUDGET = 400
"""Model runs allowed per suspected gate when its constraints do not solve it directly."""


@dataclass(frozen=True)
class Probe:
    """One input both models ran on, and where it came from."""

    origin: str
    feed: Feed


@dataclass(frozen=True)
class Disagreement:
    """An input on which the output model left the tolerance."""

    origin: str
    output: str
    max_abs_diff: float
    elements: int
    """Elements outside the tolerance."""
    argmax_flips: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "output": self.output,
            "max_abs_diff": _finite(self.max_abs_diff),
            "elements": self.elements,
            "argmax_flips": self.argmax_flips,
        }


@dataclass
class Equivalence:
    """The verdict on one stage."""

    tolerance: Tolerance
    generated: int = 0
    gate_probes: int = 0
    gates: list[str] = field(default_factory=list)
    max_abs_diff: float = 0.0
    tolerance_used: float = 0.0
    """The largest ``|out - ref| / (atol + rtol * |ref|)`` seen: above 1 is outside the tolerance."""
    disagreements: list[Disagreement] = field(default_factory=list)
    structure: list[str] = field(default_factory=list)

    @property
    def equivalent(self) -> bool:
        return not self.disagreements

    def to_dict(self) -> dict[str, Any]:
        return {
            "equivalent": self.equivalent,
            "atol": self.tolerance.atol,
            "rtol": self.tolerance.rtol,
            "generated_inputs": self.generated,
            "gate_inputs": self.gate_probes,
            "gates": list(self.gates),
            "max_abs_diff": _finite(self.max_abs_diff),
            "tolerance_used": _finite(self.tolerance_used),
            "disagreements": [d.to_dict() for d in self.disagreements[:20]],
            "structure": list(self.structure),
        }


def check_equivalence(parent: Path, child: Path, tolerance: Tolerance, *, seed: int = 0) -> Equivalence:
    """Compare ``child`` (the stage's output) with ``parent`` (its input); InputError if they cannot run."""
    from mlvet.probe import parse_model, read_model
    from mlvet.probe.run import ModelRunner
    from mlvet.probe.spec import input_specs

    parent_bytes, child_bytes = read_model(parent), read_model(child)
    parent_model, child_model = parse_model(parent_bytes, parent), parse_model(child_bytes, child)
    result = Equivalence(tolerance)
    result.structure = structural_changes(parent_model, child_model)
    specs = input_specs(parent_model)
    _check_interface(specs, input_specs(child_model), parent, child)
    parent_runner, child_runner = ModelRunner(parent_model), ModelRunner(child_model)
    if len(parent_runner.output_names) != len(child_runner.output_names):
        raise InputError(
            f"{child} has {len(child_runner.output_names)} outputs and its input model "
            f"{len(parent_runner.output_names)}, so their outputs cannot be compared",
        )
    rng = np.random.default_rng(seed)
    from mlvet.probe.spec import clean_feed

    probes = [Probe(f"generated input #{i + 1}", clean_feed(specs, rng)) for i in range(tolerance.samples)]
    result.generated = len(probes)
    for label, model, data in (
        ("input model", parent_model, parent_bytes),
        ("output model", child_model, child_bytes),
    ):
        for gate, feed in gate_inputs(model, data, specs, rng):
            result.gates.append(f"{label}: {gate.predicate} (at {gate.join_node})")
            probes.append(Probe(f"opens the {label}'s gate {gate.predicate}", feed))
            result.gate_probes += 1
    for probe in probes:
        expected = parent_runner.run(probe.feed).outputs
        actual = child_runner.run(probe.feed).outputs
        for (name, want), got in zip(expected.items(), actual.values(), strict=True):
            disagreement = _compare(probe.origin, name, want, got, tolerance)
            result.max_abs_diff = max(result.max_abs_diff, _max_abs(want, got))
            result.tolerance_used = max(result.tolerance_used, _used(want, got, tolerance))
            if disagreement is not None:
                result.disagreements.append(disagreement)
    return result


def gate_inputs(
    model: onnx.ModelProto, data: bytes, specs: Sequence[InputSpec], rng: np.random.Generator
) -> list[tuple[Gate, Feed]]:
    """For every gate ``find_gates`` suspects in ``model``, an input built to open it.

    Solved from the gate's constraints when they open it, else found by ``probe``'s search; a gate
    that neither opens still contributes its solved input when there is one.
    """
    from mlvet.graph import find_gates
    from mlvet.probe.examine import examine_gate, probe_tensors
    from mlvet.probe.run import ModelRunner
    from mlvet.probe.solve import Unsolvable, satisfied, solve
    from mlvet.probe.spec import clean_feed

    try:
        gates = find_gates(data)
    except ValueError:
        return []
    if not gates:
        return []
    tensors = probe_tensors(model, gates)
    watched = [
        n for condition, values in tensors.values() for n in ([condition] if condition else []) + values
    ]
    runner: ModelRunner = ModelRunner(model, watched)
    found: list[tuple[Gate, Feed]] = []
    for gate in gates:
        clean = clean_feed(list(specs), rng)
        for _ in range(8):
            if not satisfied(gate.constraints, clean):
                break
            clean = clean_feed(list(specs), rng)
        outcome = examine_gate(model, runner, gate, tensors[gate], specs, clean, budget=GATE_BUDGET, rng=rng)
        if outcome.triggered is not None:
            found.append((gate, outcome.triggered))
            continue
        if gate.constraints:
            try:
                found.append((gate, solve(gate.constraints, specs, clean)))
            except Unsolvable:
                continue
    return found


def structural_changes(parent: onnx.ModelProto, child: onnx.ModelProto) -> list[str]:
    """What the child's graph gained that a faithful quantizer or converter does not add.

    Control flow, gates and graph inputs come from ``mlvet.diff.topology``; so do rewired late nodes
    and outputs when most nodes matched (a quantizer replaces nearly every node, and then the
    topology's side paths mean nothing). Late shallow joins (``sidepath``) are counted either way.
    """
    from mlvet.diff.topology import compare_topology
    from mlvet.provenance.lineage.sidepath import new_joins

    changes = compare_topology(parent, child)
    found = [f"new control flow: {n.op_type} node {n.name!r}" for n in changes.new_control_flow]
    found += [f"new suspected gate: {g.predicate} (at {g.join_node})" for g in changes.new_gates]
    found += [
        f"new graph input {c.name!r} ({c.after})" for c in changes.inputs if c.change in ("added", "retyped")
    ]
    if len(changes.pairs) * 2 >= changes.known_good_nodes:
        found += [
            f"late node {r.node.op_type} {r.node.name!r} now reads {', '.join(r.from_inputs)} "
            "through a new side path"
            for r in changes.rewired
            if r.late and r.from_inputs
        ]
        found += [
            f"graph output {o.name!r} is now produced through a side path from {', '.join(o.from_inputs)}"
            for o in changes.outputs
            if o.from_inputs
        ]
    found += [f"new late join: {join.describe()}" for join in new_joins(parent, child)]
    return list(dict.fromkeys(found))


def _check_interface(
    parent: Sequence[InputSpec], child: Sequence[InputSpec], parent_path: Path, child_path: Path
) -> None:
    want = {s.name: s for s in parent}
    got = {s.name: s for s in child}
    if set(want) != set(got):
        raise InputError(
            f"{child_path} takes inputs {sorted(got)} and its input model {parent_path} "
            f"takes {sorted(want)}, "
            "so they cannot run on the same inputs",
            hint="a stage that changes the model's interface cannot be checked for equivalence; "
            "set equivalence = false for it in the policy",
        )
    for name, spec in want.items():
        if got[name].dtype != spec.dtype:
            raise InputError(
                f"input {name!r} is {got[name].dtype} in {child_path} and {spec.dtype} in {parent_path}",
                hint="set equivalence = false for this stage in the policy",
            )


def _compare(
    origin: str, name: str, want: np.ndarray, got: np.ndarray, tolerance: Tolerance
) -> Disagreement | None:
    if want.shape != got.shape:
        return Disagreement(origin, name, float("inf"), max(want.size, got.size), 0)
    expected, actual = want.astype(np.float64), got.astype(np.float64)
    both_nan = np.isnan(expected) & np.isnan(actual)
    delta = np.where(both_nan, 0.0, np.abs(actual - expected))
    delta = np.where(np.isnan(delta), np.inf, delta)
    outside = delta > tolerance.atol + tolerance.rtol * np.abs(np.nan_to_num(expected))
    count = int(np.count_nonzero(outside))
    if not count:
        return None
    flips = 0
    if expected.ndim >= 1 and expected.shape[-1] > 1:
        flips = int(np.count_nonzero(np.argmax(expected, axis=-1) != np.argmax(actual, axis=-1)))
    return Disagreement(origin, name, float(delta.max()), count, flips)


def _used(want: np.ndarray, got: np.ndarray, tolerance: Tolerance) -> float:
    if want.shape != got.shape:
        return float("inf")
    expected = np.nan_to_num(want.astype(np.float64))
    delta = np.abs(np.nan_to_num(got.astype(np.float64)) - expected)
    allowed = tolerance.atol + tolerance.rtol * np.abs(expected)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(
            allowed > 0, delta / np.where(allowed > 0, allowed, 1.0), np.where(delta > 0, np.inf, 0.0)
        )
    return float(ratio.max(initial=0.0))


def _max_abs(want: np.ndarray, got: np.ndarray) -> float:
    if want.shape != got.shape:
        return float("inf")
    delta = np.abs(got.astype(np.float64) - want.astype(np.float64))
    return float(np.nan_to_num(delta, nan=0.0, posinf=np.inf).max(initial=0.0))


def _finite(value: float) -> float | str:
    return value if np.isfinite(value) else "inf"
