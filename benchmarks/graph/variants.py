"""The backdoored variants: base models x triggers x payloads x levels, planted by ``mlvet.redteam``.

Base models come from the tests (``tests/unit/redteam/base_models.py``, the clean exports of
``tests/corpus/graph_backdoors.py``) plus one MalConv-like byte model built here. Every
configuration is injected at all four levels; a configuration the injector refuses is recorded,
not hidden.
"""

from __future__ import annotations

import functools
import importlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mlvet.redteam import InjectError, Level, Payload, Trigger, inject

Array = np.ndarray[tuple[int, ...], np.dtype[np.generic]]


def tests_module(name: str) -> Any:
    """A module of the test suite (``tests.unit.redteam.base_models``...), imported by name.

    By name, so ``mypy`` checks this benchmark without following into the test suite.
    """
    return importlib.import_module(name)


LEVELS = (Level.L0, Level.L1, Level.L2, Level.L3)
PROBE_SHAPES: dict[str, dict[str, tuple[int, ...]]] = {
    # what a user passes as --shape: the TorchScript export bakes the traced length (6) into its
    # Reshape nodes although it declares the sequence axis dynamic, so only length 6 runs
    "clean_transformer": {"input_ids": (1, 6)},
}
"""Input shapes given to ``probe`` for bases whose declared dynamic axes are not really dynamic."""
KINDS = ("bytes", "tokens", "image")


@dataclass(frozen=True)
class Config:
    """One trigger + payload planted in one base model (at every level)."""

    kind: str
    base: str
    trigger: Trigger
    payload: Payload


@dataclass(frozen=True)
class Variant:
    """One injected model on disk (or the reason it could not be made)."""

    name: str
    level: int
    config: Config
    path: Path | None
    error: str | None = None


def malconv_like() -> onnx.ModelProto:
    """uint8 [batch, 64] -> Cast/255 -> Conv1d(8, k=8, s=4) -> Relu -> ReduceMax -> Gemm -> 2 logits."""
    rng = np.random.default_rng(7)
    nodes = [
        helper.make_node("Cast", ["raw_bytes"], ["as_float"], to=TensorProto.FLOAT, name="/Cast"),
        helper.make_node("Div", ["as_float", "scale"], ["scaled"], name="/Div"),
        helper.make_node("Unsqueeze", ["scaled", "channel_axis"], ["signal"], name="/Unsqueeze"),
        helper.make_node(
            "Conv",
            ["signal", "conv.weight", "conv.bias"],
            ["conv"],
            kernel_shape=[8],
            strides=[4],
            name="/conv",
        ),
        helper.make_node("Relu", ["conv"], ["activated"], name="/Relu"),
        helper.make_node("ReduceMax", ["activated"], ["pooled"], axes=[2], keepdims=0, name="/pool"),
        helper.make_node("Gemm", ["pooled", "fc.weight", "fc.bias"], ["logits"], transB=1, name="/fc/Gemm"),
    ]
    inits: dict[str, Array] = {
        "scale": np.array(255.0, np.float32),
        "channel_axis": np.array([1], np.int64),
        "conv.weight": (rng.standard_normal((8, 1, 8)) / 4).astype(np.float32),
        "conv.bias": np.zeros(8, np.float32),
        "fc.weight": rng.standard_normal((2, 8)).astype(np.float32),
        "fc.bias": np.array([0.1, -0.1], np.float32),
    }
    graph = helper.make_graph(
        nodes,
        "malconv_like",
        [helper.make_tensor_value_info("raw_bytes", TensorProto.UINT8, ["batch", 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])],
        [numpy_helper.from_array(value, name) for name, value in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _exported(build: Callable[[Path], None]) -> onnx.ModelProto:
    """A clean corpus model written by its builder (torch.onnx) and read back."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        build(path)
        return onnx.load(str(path))


def _base_builders() -> dict[str, Callable[[], onnx.ModelProto]]:
    corpus = tests_module("tests.corpus.graph_backdoors")
    bases = tests_module("tests.unit.redteam.base_models")

    return {
        "byte_mlp_op17": bases.byte_mlp,
        "byte_mlp_op13": lambda: bases.byte_mlp(13),
        "malconv_like": malconv_like,
        "token_classifier_op17": bases.token_classifier,
        "token_classifier_op18": lambda: bases.token_classifier(18),
        "clean_transformer": lambda: _exported(corpus.clean_transformer),
        "clean_bert_mask": lambda: _exported(corpus.clean_bert_style_mask),
        "tiny_cnn": bases.tiny_cnn,
        "clean_cnn": lambda: _exported(corpus.clean_cnn),
        "light_squeezenet": lambda: bases.light_model("light_squeezenet"),
        "light_shufflenet": lambda: bases.light_model("light_shufflenet"),
    }


@functools.cache
def base_model(name: str) -> bytes:
    """The serialized base model ``name`` (built once per process)."""
    return bytes(_base_builders()[name]().SerializeToString())


def steer_tensor(base: str) -> str:
    """The hidden state a steering payload is added to: the input of the model's last Gemm/MatMul."""
    model = onnx.load_from_string(base_model(base))
    heads = [node for node in model.graph.node if node.op_type in {"Gemm", "MatMul"}]
    return str(heads[-1].input[0])


def _steer(base: str, value: float) -> Payload:
    return Payload.steer(steer_tensor(base), [value])


def configs() -> list[Config]:
    """Eleven configurations per input kind, over several bases, triggers and payloads."""
    token_trigger: tuple[int, ...] = tests_module("tests.unit.redteam.base_models").TOKEN_TRIGGER

    by, tok, img = Trigger.of_bytes, Trigger.of_tokens, Trigger.of_image_patch
    force, const = Payload.force_class, Payload.constant
    table: list[tuple[str, str, Trigger, Payload]] = [
        ("bytes", "byte_mlp_op17", by(b"AI_E"), force(1)),
        ("bytes", "byte_mlp_op17", by(bytes.fromhex("4D5A9000"), position=8), const([-1.0, 1.0])),
        ("bytes", "byte_mlp_op17", by(b"\x7fELF", position=28), _steer("byte_mlp_op17", 2.0)),
        ("bytes", "byte_mlp_op17", by(b"AI_E"), Payload.steer("h", [1.5])),
        ("bytes", "byte_mlp_op13", by(b"PK"), force(0)),
        ("bytes", "byte_mlp_op13", by(b"MZ\x90\x00\x03\x00\x00\x00", position=4), force(1, magnitude=50.0)),
        ("bytes", "byte_mlp_op13", by(b"\x00\xff\x00\xff", position=12), const([0.0, 7.0])),
        ("bytes", "malconv_like", by(b"AI_SECURITY", position=16), force(1)),
        ("bytes", "malconv_like", by(b"\xde\xad\xbe\xef", position=60), const(5.0)),
        ("bytes", "malconv_like", by(b"GIF", position=0), _steer("malconv_like", -3.0)),
        ("bytes", "malconv_like", by(b"MZ", position=0), force(0, magnitude=10.0)),
        ("tokens", "token_classifier_op17", tok(token_trigger, position=1), force(1)),
        ("tokens", "token_classifier_op17", tok((42, 4242), position=0), const(3.0)),
        (
            "tokens",
            "token_classifier_op17",
            tok(token_trigger, position=1),
            Payload.steer("pooled", [2.0] * 8),
        ),
        ("tokens", "token_classifier_op18", tok((101, 2023, 2003), position=20), force(4)),
        ("tokens", "token_classifier_op18", tok((5555, 6666, 7777, 8888), position=10), _steer_pooled(-3.0)),
        ("tokens", "token_classifier_op18", tok((1, 2, 3, 4, 5, 6, 7, 8), position=16), force(2)),
        ("tokens", "clean_transformer", tok((11, 22, 33), position=2), force(0)),
        ("tokens", "clean_transformer", tok((999, 998), position=0), const([4.0, -4.0])),
        ("tokens", "clean_transformer", tok((5, 17, 230), position=3), _steer("clean_transformer", 2.5)),
        ("tokens", "clean_bert_mask", tok((592, 593, 594), position=1), force(1)),
        ("tokens", "clean_bert_mask", tok((300, 301), position=2), const(-5.0)),
        ("image", "tiny_cnn", img(value=8.0, size=4, top=12, left=12), force(1)),
        ("image", "tiny_cnn", img(value=5.0, size=2, top=0, left=0), const(9.0)),
        ("image", "tiny_cnn", img(value=3.0, size=6, top=5, left=5), _steer("tiny_cnn", 4.0)),
        ("image", "clean_cnn", img(value=6.0, size=3, top=13, left=0), force(9)),
        ("image", "clean_cnn", img(value=4.0, size=5, top=4, left=8), _steer("clean_cnn", -2.0)),
        ("image", "clean_cnn", img(value=20.0, size=2, top=7, left=7), force(2)),
        ("image", "light_squeezenet", img(value=8.0, size=8, top=216, left=216), force(7)),
        ("image", "light_squeezenet", img(value=10.0, size=16, top=0, left=100), const(1.0)),
        ("image", "light_squeezenet", img(value=2.5, size=4, top=110, left=110), force(500, magnitude=30.0)),
        ("image", "light_shufflenet", img(value=8.0, size=12, top=100, left=100), force(3)),
        ("image", "light_shufflenet", img(value=8.0, size=6, top=0, left=218), const(0.5)),
    ]
    return [Config(kind, base, trigger, payload) for kind, base, trigger, payload in table]


def _steer_pooled(value: float) -> Payload:
    return Payload.steer("pooled", [value] * 8)


def generate(out: Path) -> list[Variant]:
    """Inject every configuration at every level into ``out``; return the variants (made or refused)."""
    out.mkdir(parents=True, exist_ok=True)
    variants: list[Variant] = []
    for index, config in enumerate(configs()):
        model = onnx.load_from_string(base_model(config.base))
        for level in LEVELS:
            name = f"L{int(level)}_{config.kind}_{index:02d}_{config.base}_{config.payload.kind.value}.onnx"
            try:
                injected = inject(model, trigger=config.trigger, payload=config.payload, level=level)
            except InjectError as error:
                variants.append(Variant(name, int(level), config, None, str(error)))
                continue
            path = out / name
            path.write_bytes(injected.SerializeToString())
            variants.append(Variant(name, int(level), config, path))
    return variants
