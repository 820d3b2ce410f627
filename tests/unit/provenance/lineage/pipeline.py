"""A real three-stage pipeline for the lineage tests: keys, a float ONNX model, its quantized and
converted versions, and a backdoored quantized copy, all written by the real libraries."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.unit.provenance.material import write_key_pair

SIDE = 8
CLASSES = 4
KEY_NAMES = ("alice", "bob", "mallory")


@dataclass(frozen=True)
class Keys:
    directory: Path

    def private(self, name: str) -> Path:
        return self.directory / f"{name}.key.pem"

    def public(self, name: str) -> Path:
        return self.directory / f"{name}.pub.pem"


def write_keys(directory: Path) -> Keys:
    """alice (P-256), bob (P-384), mallory (Ed25519): private and public PEM files."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, kind in (("alice", "p256"), ("bob", "p384"), ("mallory", "ed25519")):
        write_key_pair(directory, kind, name=name)
    return Keys(directory)


def float_model() -> onnx.ModelProto:
    """An image classifier: float [batch, 1, 8, 8] -> Flatten -> 4 Gemm layers with Relu -> [batch, 4]."""
    rng = np.random.default_rng(7)
    widths = [SIDE * SIDE, 32, 32, 32, CLASSES]
    nodes = [helper.make_node("Flatten", ["image"], ["flat"], name="/Flatten")]
    initializers = []
    previous = "flat"
    for layer in range(4):
        weight = (rng.standard_normal((widths[layer], widths[layer + 1])) / np.sqrt(widths[layer])).astype(
            np.float32
        )
        initializers += [
            numpy_helper.from_array(weight, f"fc{layer}.weight"),
            numpy_helper.from_array(np.full(widths[layer + 1], 0.05, np.float32), f"fc{layer}.bias"),
        ]
        out = "logits" if layer == 3 else f"h{layer}"
        nodes.append(
            helper.make_node(
                "Gemm", [previous, f"fc{layer}.weight", f"fc{layer}.bias"], [out], name=f"/fc{layer}/Gemm"
            )
        )
        if layer < 3:
            nodes.append(helper.make_node("Relu", [out], [f"r{layer}"], name=f"/relu{layer}/Relu"))
            previous = f"r{layer}"
    graph = helper.make_graph(
        nodes,
        "image_mlp",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, SIDE, SIDE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", CLASSES])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="mlvet-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def quantize(source: Path, target: Path) -> None:
    """onnxruntime's dynamic int8 quantization, as a pipeline's quantize stage runs it."""
    from onnxruntime.quantization import QuantType, quantize_dynamic  # type: ignore[import-untyped]

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)


def convert(source: Path, target: Path, opset: int = 18) -> None:
    """onnx's version converter, as a pipeline's convert stage runs it."""
    from onnx import version_converter

    onnx.save(version_converter.convert_version(onnx.load(source), opset), target)


def backdoor(source: Path, target: Path) -> None:
    """``mlvet.redteam.inject``: a bright 3x3 patch forces class 1 (an explicit Where gate)."""
    from mlvet.redteam import Level, Payload, Trigger, inject

    model = inject(
        onnx.load(source),
        trigger=Trigger.of_image_patch(value=8.0, size=3, top=2, left=2),
        payload=Payload.force_class(1),
        level=Level.L0,
    )
    onnx.save(model, target)


POLICY = """\
version = 1
required = ["train", "quantize", "convert"]

[keys]
alice = "keys/alice.pub.pem"
bob = {{ path = "keys/bob.pub.pem" }}
mallory = "keys/mallory.pub.pem"

[stages.train]
signers = ["alice"]

[stages.quantize]
signers = ["alice", "bob"]
threshold = {quantize_threshold}

[stages.convert]
signers = ["bob"]
"""


def write_policy(directory: Path, *, quantize_threshold: int = 2, extra: str = "") -> Path:
    path = directory / "policy.toml"
    path.write_text(POLICY.format(quantize_threshold=quantize_threshold) + extra, encoding="utf-8")
    return path


def sample(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((1, 1, SIDE, SIDE)).astype(np.float32)


@dataclass(frozen=True)
class Models:
    """The pipeline's files in one directory (``keys/`` beside them)."""

    directory: Path
    keys: Keys

    @property
    def float(self) -> Path:
        return self.directory / "model.onnx"

    @property
    def int8(self) -> Path:
        return self.directory / "model.int8.onnx"

    @property
    def converted(self) -> Path:
        return self.directory / "model.int8.opset18.onnx"

    @property
    def backdoored(self) -> Path:
        return self.directory / "evil.int8.onnx"


def build_models(directory: Path) -> Models:
    """Keys, the float model, its quantized and converted versions, and a backdoored quantized copy."""
    keys = write_keys(directory / "keys")
    models = Models(directory, keys)
    onnx.save(float_model(), models.float)
    quantize(models.float, models.int8)
    convert(models.int8, models.converted)
    backdoor(models.int8, models.backdoored)
    return models


@pytest.fixture(scope="session")
def pipeline_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pipeline's keys and models, built once per session (before the test guard arms)."""
    directory = tmp_path_factory.mktemp("pipeline")
    build_models(directory)
    return directory


@pytest.fixture
def models(pipeline_template: Path, tmp_path: Path) -> Models:
    """A private copy of the pipeline's files for one test."""
    directory = tmp_path / "pipeline"
    shutil.copytree(pipeline_template, directory)
    return Models(directory, Keys(directory / "keys"))
