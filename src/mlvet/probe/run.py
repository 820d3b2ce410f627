"""Execute the model graph in onnxruntime on CPU, reading gate conditions as extra outputs.

Only the standard operator domains run; onnxruntime custom-op libraries are never registered, so a
model that needs one is refused. Graph optimisations are off, so intermediate values are the ones the
graph computes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from mlvet._internal.onnx_graphs import all_nodes
from mlvet.probe.errors import MissingRuntimeError, RunnerError

STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft", "ai.onnx.preview.training"})


@dataclass(frozen=True)
class Evaluation:
    """The graph outputs and the probed intermediate tensors for one input."""

    outputs: dict[str, np.ndarray]
    probes: dict[str, np.ndarray]


def foreign_domains(model: onnx.ModelProto) -> set[str]:
    """Operator domains the model uses that onnxruntime cannot run without a custom-op library."""
    local = {f.domain for f in model.functions}
    used: set[str] = set()
    for node in all_nodes(model.graph):
        used.add(node.domain)
    for function in model.functions:
        used.update(node.domain for node in function.node)
    return {d for d in used if d not in STANDARD_DOMAINS and d not in local}


class ModelRunner:
    """One onnxruntime session over ``model``, with ``probes`` (tensor names) added as outputs."""

    def __init__(self, model: onnx.ModelProto, probes: Iterable[str] = ()) -> None:
        try:
            import onnxruntime  # type: ignore[import-untyped]
        except ImportError:
            raise MissingRuntimeError() from None
        foreign = foreign_domains(model)
        if foreign:
            raise RunnerError(
                f"the model uses custom operator domain(s) {', '.join(sorted(foreign))}, "
                "which would need a custom-op library (never loaded by mlvet)"
            )
        produced = {out for node in model.graph.node for out in node.output} | {
            v.name for v in model.graph.input
        }
        self.output_names = [o.name for o in model.graph.output]
        self.probe_names = [p for p in dict.fromkeys(probes) if p in produced and p not in self.output_names]
        extended = onnx.ModelProto()
        extended.CopyFrom(model)
        for name in self.probe_names:
            extended.graph.output.append(onnx.ValueInfoProto(name=name))
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
        options.log_severity_level = 3
        try:
            self._session = onnxruntime.InferenceSession(
                extended.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types for bad models
            raise RunnerError(
                f"onnxruntime cannot load the model: {_summary(exc)}",
                hint=f"onnxruntime {onnxruntime.__version__} refused it; 'mlvet scan' analyses it statically",
            ) from None
        self.evaluations = 0
        self.signature = ", ".join(f"{i.name} {i.type}{list(i.shape)}" for i in self._session.get_inputs())

    def run(self, feed: Mapping[str, np.ndarray]) -> Evaluation:
        """Run once; raises RunnerError when onnxruntime rejects the input or fails."""
        self.evaluations += 1
        try:
            values: Sequence[Any] = self._session.run(None, dict(feed))
        except Exception as exc:  # onnxruntime raises its own exception types
            raise RunnerError(
                f"onnxruntime failed to run the model: {_summary(exc)}",
                hint="check --shape and --calibration against the model's inputs: " + self.signature,
            ) from None
        arrays = [np.asarray(v) for v in values]
        count = len(self.output_names)
        return Evaluation(
            outputs=dict(zip(self.output_names, arrays[:count], strict=True)),
            probes=dict(zip(self.probe_names, arrays[count:], strict=True)),
        )


def held_constant(model: onnx.ModelProto, tensor: str, value: np.ndarray) -> onnx.ModelProto:
    """A copy of ``model`` whose consumers of ``tensor`` read the constant ``value`` instead."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    replacement = f"{tensor}__mlvet_held"
    copy.graph.initializer.append(numpy_helper.from_array(np.asarray(value), replacement))
    for node in copy.graph.node:
        for index, name in enumerate(node.input):
            if name == tensor:
                node.input[index] = replacement
    return copy


def _summary(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 400 else text[:399] + "…"
