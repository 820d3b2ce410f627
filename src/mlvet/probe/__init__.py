"""``mlvet probe``: synthesize a trigger for every suspected gate and prove it by execution.

``probe(path)`` finds the suspected gates (``mlvet.graph.find_gates``), solves each gate's
constraints into an input (or searches for one), runs clean and triggered inputs through onnxruntime
on CPU and reports each gate that opens and changes the output as a confirmed, critical finding with
its trigger. A calibration run flags gates whose condition never changes (dormant branches).
Needs ``mlvet[onnx]``; onnxruntime custom-op libraries are never loaded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mlvet import __version__
from mlvet.errors import InputError
from mlvet.findings import Finding, Problem, ProblemKind, Report, Subject
from mlvet.graph.gates import Gate
from mlvet.probe.errors import MissingRuntimeError, RunnerError
from mlvet.probe.rules import RULES, detected_rules, gate_rule

if TYPE_CHECKING:
    import onnx

    from mlvet.probe.run import ModelRunner
    from mlvet.probe.spec import InputSpec

Feed = dict[str, np.ndarray]

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_SAMPLES",
    "RULES",
    "default_out_dir",
    "gate_rule",
    "parse_model",
    "probe",
    "read_model",
]

DEFAULT_BUDGET = 2000
DEFAULT_SAMPLES = 16
MAX_MODEL_BYTES = 2 * 1024**3


def default_out_dir(path: Path) -> Path:
    """Where triggers go unless told: ``<model>.probe/`` next to the model."""
    return path.with_name(f"{path.stem}.probe")


def probe(
    path: Path | str,
    *,
    shapes: Mapping[str, tuple[int, ...]] | None = None,
    calibration: Path | None = None,
    samples: int = DEFAULT_SAMPLES,
    budget: int = DEFAULT_BUDGET,
    out_dir: Path | None = None,
    gates: Sequence[Gate] | None = None,
    seed: int = 0,
) -> Report:
    """Probe the ONNX model at ``path``; ``gates`` overrides detection (default: ``find_gates``).

    Raises ``InputError`` when the model cannot be probed at all (missing, not ONNX, onnxruntime
    missing or unable to load it); a gate that fails mid-way becomes a problem in the report.
    """
    started = datetime.now(UTC)
    path = Path(path)
    data = read_model(path)
    model = parse_model(data, path)
    from mlvet.probe import calibration as calib
    from mlvet.probe.examine import examine_gate, probe_tensors
    from mlvet.probe.run import ModelRunner
    from mlvet.probe.spec import input_specs
    from mlvet.probe.verdict import dormant_finding, gate_finding

    subject = Subject(path=str(path), format="onnx", sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    found = list(gates) if gates is not None else _find_gates(data, path)
    detected = detected_rules(data) if found else {}
    tensors = probe_tensors(model, found)
    watched = [
        name for condition, values in tensors.values() for name in ([condition] if condition else []) + values
    ]
    runner = ModelRunner(model, watched)
    observed = None
    if calibration is not None:
        initialized = {t.name for t in model.graph.initializer}
        names = [v.name for v in model.graph.input if v.name not in initialized]
        observed = calib.sample_shapes(calibration, names)
    specs = input_specs(model, shapes, observed)
    rng = np.random.default_rng(seed)
    if calibration is not None:
        feeds = calib.load_calibration(calibration, specs)
    else:
        feeds = calib.generated_calibration(specs, max(samples, 1), rng)
    findings: list[Finding] = []
    problems: list[Problem] = []
    out = out_dir if out_dir is not None else default_out_dir(path)
    watched_values = _observe(runner, feeds)
    for gate in found:
        clean = _clean_for(gate, feeds, specs, rng)
        outcome = examine_gate(model, runner, gate, tensors[gate], specs, clean, budget=budget, rng=rng)
        if outcome.error and not outcome.opened:
            problems.append(
                Problem(subject, ProblemKind.UNSUPPORTED, f"gate {gate.join_node}: {outcome.error}")
            )
        findings.append(gate_finding(outcome, subject, out, gate_rule(gate, detected)))
        condition = outcome.condition
        values = [probes[condition] for probes in watched_values if condition in probes]
        if gate.outputs and len(values) > 1 and calib.distinct(feeds) and calib.never_changes(values):
            findings.append(dormant_finding(outcome, subject, len(values), values[0]))
    findings.sort(key=lambda f: (-f.severity, f.rule.id))
    return Report(
        tool_version=__version__,
        started=started,
        finished=datetime.now(UTC),
        subjects=(subject,),
        findings=tuple(findings),
        problems=tuple(problems),
    )


def read_model(path: Path) -> bytes:
    """The bytes of the ONNX model file ``path``; InputError when it is missing, not a file or too big."""
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if not path.is_file():
        raise InputError(f"{path}: not a file", hint="mlvet probe takes one ONNX model file")
    try:
        if path.stat().st_size > MAX_MODEL_BYTES:
            raise InputError(f"{path}: larger than 2 GiB, which onnxruntime cannot load from memory")
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None


def parse_model(data: bytes, path: Path) -> onnx.ModelProto:
    """``data`` as an ONNX model; needs onnxruntime installed (the probe's runtime)."""
    try:
        import onnx
        import onnxruntime  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        raise MissingRuntimeError() from None
    from mlvet.artifacts import Format, sniff

    if sniff(data) is not Format.ONNX:
        raise InputError(f"{path}: not an ONNX model", hint="mlvet probe runs ONNX models (.onnx files)")
    try:
        model = onnx.load_from_string(data)
    except Exception as exc:  # protobuf raises DecodeError and friends
        raise InputError(f"{path}: not a readable ONNX model: {exc}") from None
    external = [t for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        _load_external(model, external, path)
    if model.functions:  # run what the detector analysed: the model's functions inlined, same names
        from mlvet.graph.onnx_functions import inline_local_functions

        model = inline_local_functions(model)
    return model


def _load_external(model: onnx.ModelProto, tensors: Sequence[onnx.TensorProto], path: Path) -> None:
    """Read external tensor data, but only from files inside the model's directory."""
    from onnx.external_data_helper import load_external_data_for_model

    root = path.parent.resolve()
    for tensor in tensors:
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        target = (root / location).resolve()
        if not location or Path(location).is_absolute() or not target.is_relative_to(root):
            raise RunnerError(
                f"{path}: external data of {tensor.name!r} points outside the model directory ({location!r})",
                hint="'mlvet scan' reports this as MLV452; probe only reads data next to the model",
            )
    try:
        load_external_data_for_model(model, str(root))
    except (OSError, ValueError) as exc:
        raise RunnerError(f"{path}: cannot read the model's external tensor data: {exc}") from None


def _find_gates(data: bytes, path: Path) -> list[Gate]:
    from mlvet import graph

    try:
        return list(graph.find_gates(data))
    except ValueError as exc:
        raise InputError(f"{path}: not a readable ONNX model: {exc}") from None
    except ImportError:
        raise MissingRuntimeError() from None


def _observe(runner: ModelRunner, feeds: Sequence[Feed]) -> list[dict[str, np.ndarray]]:
    """The watched tensors on every calibration input (this also proves the model runs)."""
    return [runner.run(feed).probes for feed in feeds]


def _clean_for(
    gate: Gate, feeds: Sequence[Feed], specs: Sequence[InputSpec], rng: np.random.Generator
) -> Feed:
    """A calibration input that does not already satisfy the gate's constraints."""
    from mlvet.probe.solve import satisfied
    from mlvet.probe.spec import clean_feed

    for feed in feeds:
        if not satisfied(gate.constraints, feed):
            return dict(feed)
    for _ in range(8):
        fresh = clean_feed(list(specs), rng)
        if not satisfied(gate.constraints, fresh):
            return fresh
    return dict(feeds[0])
