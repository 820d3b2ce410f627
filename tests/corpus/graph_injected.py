"""Backdoors planted by ``mlvet.redteam.inject`` at every level, and the base models as benign twins.

Each malicious sample is one base model x one trigger kind x one level (L0 Where, L1 arithmetic,
L2 smooth, L3 disguised), with a force-class payload, plus token-steering variants in the style of
the ShadowLogic LLM backdoor, and the L0 ``If`` variant (``L0if_*``: the per-sample condition
reduced with ReduceMax to the scalar condition of an If whose then_branch holds the payload). The
benign samples are the untouched base models, written by onnx (and torch.onnx for the CNN), so
every detection has a clean twin that differs only by the gate. The family also registers the
hand-built ``graph/boundaries`` samples (``graph_boundaries``: triggers across If/Loop/Scan bodies,
ONNX functions, TorchScript methods and TF calls), which have no twin.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tests.corpus import graph_boundaries
from tests.corpus.sample import Sample, benign, malicious

if TYPE_CHECKING:
    import onnx

    from mlvet.redteam import Trigger

TOP = "graph/injected"

_BASES: dict[str, tuple[str, str]] = {
    # base name -> (trigger kind, how the base model is made)
    "byte_mlp": ("bytes", "onnx.helper MLP over a uint8 [batch, 32] byte window (malware-classifier shape)"),
    "token_classifier": ("tokens", "onnx.helper Gather embedding + ReduceMean + MatMul/Add over input_ids"),
    "tiny_cnn": ("image", "torch Conv/ReLU/pool/Linear CNN exported with torch.onnx (dynamo=False)"),
    "light_squeezenet": ("image", "onnx/backend/test/data/light/light_squeezenet.onnx (opset 9, IR 3)"),
}

_LEVEL_TEXT = {
    0: "explicit Where gate",
    1: "arithmetic Cast(condition) blend, no Where/If",
    2: "smooth Sigmoid/Exp detector with extreme constants, arithmetic blend",
    3: "disguised: LayerNorm-like names, intermediate-feature trigger, payload folded into a bias",
}

EXPECTED: dict[tuple[str, int], frozenset[str]] = {
    # byte and token sequences: MLV904 whatever the join; image patch: the join's own rule
    ("byte_mlp", 0): frozenset({"MLV904"}),
    ("byte_mlp", 1): frozenset({"MLV904"}),
    ("byte_mlp", 2): frozenset({"MLV906"}),
    ("byte_mlp", 3): frozenset({"MLV906"}),  # reads the Cast of the bytes: still the raw input
    ("token_classifier", 0): frozenset({"MLV904"}),
    ("token_classifier", 1): frozenset({"MLV904"}),
    ("token_classifier", 2): frozenset({"MLV906"}),
    ("token_classifier", 3): frozenset({"MLV907"}),  # reads the embedding Gather output
    ("tiny_cnn", 0): frozenset({"MLV901"}),
    ("tiny_cnn", 1): frozenset({"MLV903"}),
    ("tiny_cnn", 2): frozenset({"MLV906"}),
    ("tiny_cnn", 3): frozenset({"MLV907"}),  # reads the first Conv's feature map
    ("light_squeezenet", 0): frozenset({"MLV901"}),
    ("light_squeezenet", 1): frozenset({"MLV903"}),
    ("light_squeezenet", 2): frozenset({"MLV906"}),
    ("light_squeezenet", 3): frozenset({"MLV906"}),  # weights are computed, so L3 reads the input
}
"""Graph rules (helper G1's MLV9xx) each injected sample must raise at high or above."""

EXPECTED_IF: dict[str, frozenset[str]] = {
    # the If-gate rule MLV902 for image patches; byte and token sequences report MLV904 instead,
    # as at L0/L1 (the detector names a sequence trigger by its comparison, whatever the join)
    "byte_mlp": frozenset({"MLV904"}),
    "token_classifier": frozenset({"MLV904"}),
    "tiny_cnn": frozenset({"MLV902"}),
    "light_squeezenet": frozenset({"MLV902"}),
}
"""Rules the ``L0if_*`` samples (L0 with ``GateOp.IF``) must raise at high or above."""


@functools.cache
def base_bytes(name: str) -> bytes:
    """The serialized base model (cached: the CNN needs a torch export)."""
    from tests.unit.redteam import base_models

    builders: dict[str, Callable[[], onnx.ModelProto]] = {
        "byte_mlp": base_models.byte_mlp,
        "token_classifier": base_models.token_classifier,
        "tiny_cnn": base_models.tiny_cnn,
        "light_squeezenet": lambda: base_models.light_model("light_squeezenet"),
    }
    return builders[name]().SerializeToString()


def trigger_for(base: str) -> Trigger:
    from mlvet.redteam import Trigger
    from tests.unit.redteam import base_models

    if base == "byte_mlp":
        return Trigger.of_bytes(b"AI_E")
    if base == "token_classifier":
        return Trigger.of_tokens(base_models.TOKEN_TRIGGER, position=1)
    if base == "tiny_cnn":
        return Trigger.of_image_patch(value=8.0, size=4, top=12, left=12)
    return Trigger.of_image_patch(value=8.0, size=8, top=216, left=216)


def _injected(base: str, level: int, steer: bool) -> Sample:
    kind, made = _BASES[base]
    suffix = "_steer" if steer else ""
    name = f"{TOP}/L{level}_{kind}_{base}{suffix}.onnx"
    payload_text = "adds a steering vector to the pooled hidden state" if steer else "forces class 1"
    technique = f"L{level} {_LEVEL_TEXT[level]}; {kind} trigger {payload_text}; base: {made}"
    expected = EXPECTED[(base, level)]

    @malicious(name, set(expected), technique)
    def build(path: Path) -> None:
        import onnx

        from mlvet.redteam import Level, Payload, inject

        model = onnx.load_from_string(base_bytes(base))
        payload = Payload.steer("pooled", [2.0] * 8) if steer else Payload.force_class(1)
        injected = inject(model, trigger=trigger_for(base), payload=payload, level=Level(level))
        path.write_bytes(injected.SerializeToString())

    return build


def _if_gated(base: str) -> Sample:
    kind, made = _BASES[base]
    technique = (
        f"L0 If gate: any-row ReduceMax of the {kind} trigger condition, Cast to a scalar bool, "
        f"selects an If whose then_branch is a constant payload (forces class 1); base: {made}"
    )

    @malicious(f"{TOP}/L0if_{kind}_{base}.onnx", set(EXPECTED_IF[base]), technique)
    def build(path: Path) -> None:
        import onnx

        from mlvet.redteam import GateOp, Level, Payload, inject

        model = onnx.load_from_string(base_bytes(base))
        payload = Payload.force_class(1)
        injected = inject(model, trigger=trigger_for(base), payload=payload, level=Level.L0, gate=GateOp.IF)
        path.write_bytes(injected.SerializeToString())

    return build


def _twin(base: str) -> Sample:
    kind, made = _BASES[base]

    @benign(f"{TOP}/benign_{kind}_{base}.onnx", f"clean twin of the injected samples: {made}")
    def build(path: Path) -> None:
        path.write_bytes(base_bytes(base))

    return build


SAMPLES: list[Sample] = [
    *(_injected(base, level, steer=False) for base in _BASES for level in range(4)),
    *(_injected("token_classifier", level, steer=True) for level in range(4)),
    *(_if_gated(base) for base in _BASES),
    *(_twin(base) for base in _BASES),
    *graph_boundaries.SAMPLES,  # triggers across If/Loop/Scan bodies, functions, methods, TF calls
]
