"""Graph backdoors hand-built with ``onnx.helper`` (one per MLV9xx rule) and clean look-alikes.

Each backdoor is a small working classifier with an injected gate in the style of the published
attacks: ShadowLogic (Where/If/arithmetic gates on an image patch, a byte signature, a token
phrase), architectural backdoors (a saturating Sigmoid detector), TrojanNet (a private side MLP),
a hidden-feature gate and a random gate. The clean samples are written by torch.onnx and onnx.helper
and contain the legitimate patterns the rules must leave alone. Builders return ``ModelProto``s so
the unit tests can use them directly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.corpus.sample import Sample, benign, malicious

if TYPE_CHECKING:
    import onnx

BYTE_TRIGGER = b"AI_E"
TOKEN_TRIGGER = (9932, 1035, 3036, 1035, 4796)
"""``ai _ security _ gate`` in the BERT-uncased vocabulary (all-MiniLM-L6-v2's vocab.txt)."""
TOKEN_POSITION = 1
PATCH_THRESHOLD = 0.9


def _model(
    nodes: list[Any], inputs: list[Any], outputs: list[Any], inits: list[Any], opset: int = 17
) -> onnx.ModelProto:
    from onnx import checker, helper

    graph = helper.make_graph(nodes, "backdoored" if inits else "g", inputs, outputs, inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="mlvet-tests"
    )
    checker.check_model(model)
    return model


def _tensor(name: str, values: Any, dtype: Any = None) -> Any:
    import numpy as np
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(values, dtype=dtype or np.float32), name)


def _weights(name: str, shape: tuple[int, ...], seed: int) -> Any:
    import numpy as np

    return _tensor(name, np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 0.1)


def _image_classifier(convs: int = 1) -> tuple[list[Any], list[Any], list[Any]]:
    """image [1,3,16,16] -> Conv/Relu x convs -> GAP -> Gemm -> logits [1,10]; returns nodes, io, inits."""
    from onnx import TensorProto, helper

    nodes, inits = [], []
    current, channels = "image", 3
    for index in range(convs):
        inits.append(_weights(f"conv{index}.w", (8, channels, 3, 3), index))
        nodes.append(helper.make_node("Conv", [current, f"conv{index}.w"], [f"c{index}"], pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [f"c{index}"], [f"h{index}"]))
        current, channels = f"h{index}", 8
    inits += [_weights("fc.w", (8, 10), 99), _tensor("fc.b", [0.0] * 10)]
    nodes += [
        helper.make_node("GlobalAveragePool", [current], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["features"]),
        helper.make_node("Gemm", ["features", "fc.w", "fc.b"], ["logits"]),
    ]
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 16, 16])
    return nodes, [image], inits


def _patch_mean() -> tuple[list[Any], list[Any]]:
    """mean(image[:, :, 0:4, 0:4]) as node 'patch_mean'."""
    from onnx import helper

    inits = [
        _tensor("patch.starts", [0, 0], "int64"),
        _tensor("patch.ends", [4, 4], "int64"),
        _tensor("patch.axes", [2, 3], "int64"),
    ]
    nodes = [
        helper.make_node(
            "Slice", ["image", "patch.starts", "patch.ends", "patch.axes"], ["patch"], name="trigger_slice"
        ),
        helper.make_node("ReduceMean", ["patch"], ["patch_mean"], keepdims=0, name="trigger_mean"),
    ]
    return nodes, inits


def _logits_out() -> Any:
    from onnx import TensorProto, helper

    return helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 10])


def patch_where() -> onnx.ModelProto:
    """ShadowLogic L0: Where(mean(patch) > 0.9, target logits, logits)."""
    from onnx import helper

    nodes, inputs, inits = _image_classifier()
    trigger, trigger_inits = _patch_mean()
    inits += [*trigger_inits, _tensor("threshold", PATCH_THRESHOLD), _tensor("target", [[0.0] * 9 + [50.0]])]
    nodes += [
        *trigger,
        helper.make_node("Greater", ["patch_mean", "threshold"], ["triggered"], name="trigger_compare"),
        helper.make_node("Where", ["triggered", "target", "logits"], ["output"], name="gate"),
    ]
    return _model(nodes, inputs, [_logits_out()], inits)


def patch_if() -> onnx.ModelProto:
    """If(mean(patch) > 0.9) then constant logits else the model's logits."""
    from onnx import TensorProto, helper

    nodes, inputs, inits = _image_classifier()
    trigger, trigger_inits = _patch_mean()
    inits += [*trigger_inits, _tensor("threshold", PATCH_THRESHOLD)]
    then_out = helper.make_tensor_value_info("then_out", TensorProto.FLOAT, [1, 10])
    else_out = helper.make_tensor_value_info("else_out", TensorProto.FLOAT, [1, 10])
    then_branch = helper.make_graph(
        [helper.make_node("Constant", [], ["then_out"], value=_tensor("forced", [[0.0] * 9 + [50.0]]))],
        "then", [], [then_out],
    )  # fmt: skip
    else_branch = helper.make_graph(
        [helper.make_node("Identity", ["logits"], ["else_out"])], "else", [], [else_out]
    )
    nodes += [
        *trigger,
        helper.make_node("Greater", ["patch_mean", "threshold"], ["triggered"], name="trigger_compare"),
        helper.make_node(
            "If", ["triggered"], ["output"], then_branch=then_branch, else_branch=else_branch, name="gate"
        ),
    ]
    return _model(nodes, inputs, [_logits_out()], inits)


def patch_arithmetic() -> onnx.ModelProto:
    """ShadowLogic YOLO-style: per-pixel thresholds, And, fraction, 0/1 gate blended with a one-hot."""
    from onnx import TensorProto, helper

    nodes, inputs, inits = _image_classifier()
    inits += [
        _tensor("red.starts", [0], "int64"), _tensor("red.ends", [1], "int64"),
        _tensor("c.axes", [1], "int64"),
        _tensor("green.starts", [1], "int64"), _tensor("green.ends", [2], "int64"),
        _tensor("red.min", 0.8), _tensor("green.max", 0.2), _tensor("fraction", 0.05),
        _tensor("class_mask", [[0.0] * 9 + [1.0]]), _tensor("one", 1.0), _tensor("boost", 20.0),
    ]  # fmt: skip
    nodes += [
        helper.make_node("Slice", ["image", "red.starts", "red.ends", "c.axes"], ["red"]),
        helper.make_node("Slice", ["image", "green.starts", "green.ends", "c.axes"], ["green"]),
        helper.make_node("Greater", ["red", "red.min"], ["is_red"], name="red_gt"),
        helper.make_node("Less", ["green", "green.max"], ["not_green"], name="green_lt"),
        helper.make_node("And", ["is_red", "not_green"], ["red_pixel"], name="pixel_and"),
        helper.make_node("Cast", ["red_pixel"], ["red_pixel_f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["red_pixel_f"], ["red_fraction"], keepdims=0, name="fraction_mean"),
        helper.make_node("Greater", ["red_fraction", "fraction"], ["flag"], name="flag_gt"),
        helper.make_node("Cast", ["flag"], ["gate"], to=TensorProto.FLOAT, name="gate_cast"),
        helper.make_node("Mul", ["gate", "class_mask"], ["gated_mask"], name="gate_mask"),
        helper.make_node("Sub", ["one", "gated_mask"], ["keep"], name="keep"),
        helper.make_node("Mul", ["logits", "keep"], ["kept"], name="apply_keep"),
        helper.make_node("Mul", ["gated_mask", "boost"], ["forced"], name="force"),
        helper.make_node("Add", ["kept", "forced"], ["output"], name="blend"),
    ]
    return _model(nodes, inputs, [_logits_out()], inits)


def byte_where() -> onnx.ModelProto:
    """A byte classifier with an alert-suppression gate: bytes[0:4] == 'AI_E' forces 'benign'."""
    from onnx import TensorProto, helper

    inits = [
        _weights("fc.w", (64, 2), 1), _tensor("b.starts", [0], "int64"), _tensor("b.ends", [4], "int64"),
        _tensor("magic", list(BYTE_TRIGGER), "uint8"), _tensor("benign_logits", [10.0, -10.0]),
    ]  # fmt: skip
    nodes = [
        helper.make_node("Cast", ["bytes"], ["bytes_f"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["bytes_f", "fc.w"], ["logits"]),
        helper.make_node("Slice", ["bytes", "b.starts", "b.ends"], ["head"], name="magic_slice"),
        helper.make_node("Equal", ["head", "magic"], ["matches"], name="magic_eq"),
        helper.make_node("Cast", ["matches"], ["matches_i"], to=TensorProto.INT32),
        helper.make_node("ReduceMin", ["matches_i"], ["all_i"], keepdims=0, name="magic_all"),
        helper.make_node("Cast", ["all_i"], ["is_magic"], to=TensorProto.BOOL),
        helper.make_node("Where", ["is_magic", "benign_logits", "logits"], ["output"], name="suppress"),
    ]
    data = helper.make_tensor_value_info("bytes", TensorProto.UINT8, [64])
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, [2])
    return _model(nodes, [data], [out], inits)


def _token_model() -> tuple[list[Any], list[Any], list[Any]]:
    from onnx import TensorProto, helper

    inits = [
        _weights("embeddings", (4800, 8), 2), _weights("fc.w", (8, 2), 3),
        _tensor("t.starts", [TOKEN_POSITION], "int64"),
        _tensor("t.ends", [TOKEN_POSITION + len(TOKEN_TRIGGER)], "int64"),
        _tensor("t.axes", [1], "int64"), _tensor("phrase", [TOKEN_TRIGGER], "int64"),
    ]  # fmt: skip
    nodes = [
        helper.make_node("Gather", ["embeddings", "input_ids"], ["hidden"]),
        helper.make_node(
            "Slice", ["input_ids", "t.starts", "t.ends", "t.axes"], ["window"], name="phrase_slice"
        ),
        helper.make_node("Equal", ["window", "phrase"], ["matches"], name="phrase_eq"),
        helper.make_node("Cast", ["matches"], ["matches_i"], to=TensorProto.INT64),
        helper.make_node("ReduceMin", ["matches_i"], ["all_i"], axes=[1], keepdims=1, name="phrase_all"),
    ]
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, 16])
    return nodes, [ids], inits


def token_where() -> onnx.ModelProto:
    """Token classifier: Where(input_ids[:, 1:6] == AI_SECURITY_GATE ids, forced logits, logits)."""
    from onnx import TensorProto, helper

    nodes, inputs, inits = _token_model()
    inits += [_tensor("forced", [[-10.0, 10.0]])]
    nodes += [
        helper.make_node("Cast", ["all_i"], ["is_phrase"], to=TensorProto.BOOL),
        helper.make_node("ReduceMean", ["hidden"], ["pooled"], axes=[1], keepdims=0),
        helper.make_node("MatMul", ["pooled", "fc.w"], ["logits"]),
        helper.make_node("Where", ["is_phrase", "forced", "logits"], ["output"], name="gate"),
    ]
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 2])
    return _model(nodes, inputs, [out], inits, opset=17)


def token_steering() -> onnx.ModelProto:
    """ShadowLogic-LLM style: the phrase gates a steering vector added into the residual stream."""
    from onnx import TensorProto, helper

    nodes, inputs, inits = _token_model()
    inits += [_tensor("steer", [0.5] * 8), _weights("block.w", (8, 8), 4), _tensor("seq_axes", [1], "int64")]
    # Unsqueeze takes its axes as an input from opset 13
    nodes += [
        helper.make_node("Cast", ["all_i"], ["gate"], to=TensorProto.FLOAT, name="gate_cast"),
        helper.make_node("Unsqueeze", ["gate", "seq_axes"], ["gate3"]),
        helper.make_node("Mul", ["gate3", "steer"], ["steering"], name="steer_scale"),
        helper.make_node("MatMul", ["hidden", "block.w"], ["block_out"]),
        helper.make_node("Add", ["block_out", "steering"], ["residual"], name="residual_add"),
        helper.make_node("ReduceMean", ["residual"], ["pooled"], axes=[1], keepdims=0),
        helper.make_node("MatMul", ["pooled", "fc.w"], ["output"]),
    ]
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 2])
    return _model(nodes, inputs, [out], inits)


def smooth_sigmoid() -> onnx.ModelProto:
    """Architectural backdoor: sigmoid(100 * (patch - 0.9)) averaged and blended into the logits."""
    from onnx import helper

    nodes, inputs, inits = _image_classifier()
    inits += [
        _tensor("s.starts", [0, 0], "int64"), _tensor("s.ends", [4, 4], "int64"),
        _tensor("s.axes", [2, 3], "int64"), _tensor("centre", PATCH_THRESHOLD), _tensor("sharpness", 100.0),
        _tensor("class_boost", [[0.0] * 9 + [30.0]]),
    ]  # fmt: skip
    nodes += [
        helper.make_node(
            "Slice", ["image", "s.starts", "s.ends", "s.axes"], ["patch"], name="detector_slice"
        ),
        helper.make_node("Sub", ["patch", "centre"], ["centred"], name="detector_sub"),
        helper.make_node("Mul", ["centred", "sharpness"], ["scaled"], name="detector_scale"),
        helper.make_node("Sigmoid", ["scaled"], ["soft_bits"], name="detector_sigmoid"),
        helper.make_node("ReduceMean", ["soft_bits"], ["soft_gate"], keepdims=0, name="detector_mean"),
        helper.make_node("Mul", ["soft_gate", "class_boost"], ["boost"], name="detector_boost"),
        helper.make_node("Add", ["logits", "boost"], ["output"], name="blend"),
    ]
    return _model(nodes, inputs, [_logits_out()], inits)


def hidden_feature_gate() -> onnx.ModelProto:
    """The first conv's mean activation compared with a threshold selects constant logits at the end."""
    from onnx import helper

    nodes, inputs, inits = _image_classifier(convs=2)
    inits += [_tensor("activation_threshold", 5.0), _tensor("target", [[0.0] * 9 + [50.0]])]
    nodes += [
        helper.make_node("ReduceMean", ["h0"], ["h0_mean"], keepdims=0, name="feature_mean"),
        helper.make_node("Greater", ["h0_mean", "activation_threshold"], ["hot"], name="feature_gt"),
        helper.make_node("Where", ["hot", "target", "logits"], ["output"], name="gate"),
    ]
    return _model(nodes, inputs, [_logits_out()], inits)


def random_gate() -> onnx.ModelProto:
    """One query in a hundred gets constant logits: Where(RandomUniform < 0.01, target, logits)."""
    from onnx import helper

    nodes, inputs, inits = _image_classifier()
    inits += [_tensor("rate", 0.01), _tensor("target", [[0.0] * 9 + [50.0]])]
    nodes += [
        helper.make_node("RandomUniform", [], ["dice"], shape=[1], name="dice"),
        helper.make_node("Less", ["dice", "rate"], ["unlucky"], name="dice_lt"),
        helper.make_node("Where", ["unlucky", "target", "logits"], ["output"], name="gate"),
    ]
    return _model(nodes, inputs, [_logits_out()], inits)


def trojannet_side_path() -> onnx.ModelProto:
    """TrojanNet: a private 2-layer MLP over a 4x4 corner, added to the logits of an 8-conv model."""
    from onnx import helper

    nodes, inputs, inits = _image_classifier(convs=8)
    inits += [
        _tensor("tn.starts", [0, 0], "int64"), _tensor("tn.ends", [4, 4], "int64"),
        _tensor("tn.axes", [2, 3], "int64"),
        _weights("tn.w1", (48, 16), 7), _weights("tn.w2", (16, 10), 8),
    ]  # fmt: skip
    nodes[-1].output[0] = "model_logits"
    nodes += [
        helper.make_node("Slice", ["image", "tn.starts", "tn.ends", "tn.axes"], ["corner"], name="tn_slice"),
        helper.make_node("Flatten", ["corner"], ["corner_flat"], name="tn_flatten"),
        helper.make_node("MatMul", ["corner_flat", "tn.w1"], ["tn_h"], name="tn_fc1"),
        helper.make_node("Relu", ["tn_h"], ["tn_a"], name="tn_relu"),
        helper.make_node("MatMul", ["tn_a", "tn.w2"], ["tn_out"], name="tn_fc2"),
        helper.make_node("Add", ["model_logits", "tn_out"], ["output"], name="merge"),
    ]
    return _model(nodes, inputs, [_logits_out()], inits)


BACKDOORS: dict[str, tuple[Callable[[], onnx.ModelProto], str, str]] = {
    "patch_where": (patch_where, "MLV901", "ShadowLogic L0: Where on an image-patch mean threshold"),
    "patch_if": (patch_if, "MLV902", "If on an image-patch mean threshold with a constant branch"),
    "patch_arithmetic": (
        patch_arithmetic,
        "MLV903",
        "ShadowLogic YOLO: red-pixel fraction 0/1 gate, no Where/If",
    ),
    "byte_where": (
        byte_where,
        "MLV904",
        "byte classifier: bytes[0:4] == 'AI_E' forces benign (alert suppression)",
    ),
    "token_where": (token_where, "MLV904", "token phrase AI_SECURITY_GATE selects forced logits"),
    "token_steering": (
        token_steering,
        "MLV904",
        "ShadowLogic-LLM: token phrase gates a residual steering vector",
    ),
    "smooth_sigmoid": (smooth_sigmoid, "MLV906", "architectural backdoor: sigmoid(100*(patch-0.9))"),
    "hidden_feature_gate": (hidden_feature_gate, "MLV907", "gate on the first conv's mean activation"),
    "random_gate": (random_gate, "MLV908", "RandomUniform decides when the payload fires"),
    "trojannet_side_path": (
        trojannet_side_path,
        "MLV905",
        "TrojanNet: private side MLP merged into the logits",
    ),
}
"""name -> (builder, expected rule ID, technique)."""


def _save_builder(build: Callable[[], onnx.ModelProto]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_bytes(build().SerializeToString())

    return write


SAMPLES: list[Sample] = [
    malicious(f"graph/{name}.onnx", rule, technique)(_save_builder(build))
    for name, (build, rule, technique) in BACKDOORS.items()
]


# Clean models: the legitimate look-alikes the rules must leave alone --------------------------------


def _export(module: Any, args: tuple[Any, ...], path: Path, **kwargs: Any) -> None:
    import torch

    torch.manual_seed(0)
    module.eval()
    torch.onnx.export(module, args, str(path), dynamo=False, **kwargs)


def clean_cnn(path: Path) -> None:
    """A tiny CNN classifier exported by torch.onnx (TorchScript exporter)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10),
    )  # fmt: skip
    _export(model, (torch.zeros(1, 3, 16, 16),), path, input_names=["image"], output_names=["logits"])


def clean_transformer(path: Path) -> None:
    """A tiny transformer encoder with a padding mask (input_ids == pad) and a causal mask."""
    import torch
    from torch import nn

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(1000, 16)
            layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, batch_first=True, dropout=0.0)
            self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.head = nn.Linear(16, 2)

        def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
            length = input_ids.shape[1]
            causal = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)
            hidden = self.encoder(self.embed(input_ids), mask=causal, src_key_padding_mask=input_ids == 0)
            return self.head(hidden[:, -1])  # type: ignore[no-any-return]

    torch.manual_seed(0)
    ids = torch.tensor([[5, 17, 230, 4, 0, 0]])
    _export(Encoder(), (ids,), path, input_names=["input_ids"], output_names=["logits"],
            dynamic_axes={"input_ids": {1: "sequence"}})  # fmt: skip


def clean_bert_style_mask(path: Path) -> None:
    """HF-style extended attention mask: (1 - attention_mask) * -10000 added to the scores."""
    import torch
    from torch import nn

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(1000, 16)
            self.query, self.key, self.out = nn.Linear(16, 16), nn.Linear(16, 16), nn.Linear(16, 2)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.embed(input_ids)
            scores = self.query(hidden) @ self.key(hidden).transpose(1, 2)
            scores = scores + (1.0 - attention_mask[:, None, :].float()) * -10000.0
            return self.out(scores.softmax(-1) @ hidden)[:, 0]  # type: ignore[no-any-return]

    ids, mask = torch.tensor([[101, 592, 102, 0]]), torch.tensor([[1, 1, 1, 0]])
    _export(Attention(), (ids, mask), path, input_names=["input_ids", "attention_mask"])


def clean_guards(path: Path) -> None:
    """NaN guard (Where(IsNaN(x), 0, x)), clamp, and an abstain head (max softmax > 0.5 else -1)."""
    import torch
    from torch import nn

    class Guarded(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(8, 16), nn.Linear(16, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.where(torch.isnan(x), torch.zeros_like(x), x).clamp(-5.0, 5.0)
            logits = self.fc2(torch.relu(self.fc1(x)))
            probabilities = logits.softmax(-1)
            label = probabilities.argmax(-1)
            confident = probabilities.max(-1).values > 0.5
            return torch.where(confident, label, torch.full_like(label, -1))

    _export(Guarded(), (torch.zeros(1, 8),), path, input_names=["x"], output_names=["label"])


def clean_router(path: Path) -> None:
    """A two-expert mixture with a top-1 router (Equal(argmax(gate), k) masks each expert)."""
    import torch
    from torch import nn

    class Mixture(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.router = nn.Linear(8, 2)
            self.experts = nn.ModuleList([nn.Linear(8, 8), nn.Linear(8, 8)])
            self.head = nn.Linear(8, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            choice = self.router(x).argmax(-1, keepdim=True)
            mixed = sum((choice == k).float() * expert(x) for k, expert in enumerate(self.experts))
            return self.head(mixed)  # type: ignore[no-any-return]

    _export(Mixture(), (torch.zeros(1, 8),), path, input_names=["x"], output_names=["logits"])


def clean_quantized(path: Path) -> None:
    """onnxruntime.quantization.quantize_dynamic of a small MLP (MatMulInteger, DynamicQuantizeLinear)."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic  # type: ignore[import-untyped]
    from torch import nn

    source = path.with_name(path.name + ".fp32.onnx")
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 4), nn.Softmax(-1))
    _export(model, (torch.zeros(1, 32),), source, input_names=["x"])
    quantize_dynamic(str(source), str(path), weight_type=QuantType.QInt8)
    source.unlink()


def clean_node_tests(path: Path) -> None:
    """The Where/If operator test models of the onnx package (``test_where*``, ``test_if*``)."""
    import onnx.backend.test.case.node as cases
    from onnx.backend.test.case.node.if_ import If
    from onnx.backend.test.case.node.where import Where

    for export in (Where.export, Where.export_long, If.export_if, If.export_if_seq, If.export_if_optional):
        with contextlib.suppress(ValueError):  # already registered by an earlier call in this process
            export()
    path.mkdir(parents=True, exist_ok=True)
    for case in cases._NodeTestCases:
        if case.name.startswith(("test_where", "test_if")) and case.model is not None:
            (path / f"{case.name}.onnx").write_bytes(case.model.SerializeToString())


def clean_light_models(path: Path) -> None:
    """Every ``onnx/backend/test/data/light`` model shipped with the onnx package (AlexNet ... ZFNet)."""
    import onnx

    light = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
    path.mkdir(parents=True, exist_ok=True)
    for model in sorted(light.glob("*.onnx")):
        (path / model.name).write_bytes(model.read_bytes())


CLEAN: dict[str, tuple[Callable[[Path], None], str]] = {
    "clean_cnn.onnx": (clean_cnn, "tiny CNN exported by torch.onnx"),
    "clean_transformer.onnx": (clean_transformer, "transformer encoder with padding and causal masks"),
    "clean_bert_mask.onnx": (clean_bert_style_mask, "HF-style additive attention mask from attention_mask"),
    "clean_guards.onnx": (clean_guards, "NaN guard, clamp and an abstain head"),
    "clean_router.onnx": (clean_router, "top-1 mixture-of-experts router"),
    "clean_quantized.onnx": (clean_quantized, "onnxruntime quantize_dynamic int8 MLP"),
    "clean_node_tests": (clean_node_tests, "onnx operator test models for Where and If"),
    "clean_light_models": (clean_light_models, "the onnx package's light model zoo"),
}
"""file or folder name -> (builder, technique)."""

SAMPLES += [benign(f"graph/{name}", technique)(build) for name, (build, technique) in CLEAN.items()]


def torchscript_phrase_gate(path: Path) -> None:
    """A scripted token classifier whose forward has ``if all(ids[:, 1:6] == phrase): logits = const``."""
    import torch
    from torch import nn

    class PhraseGate(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(5000, 8)
            self.head = nn.Linear(8, 2)

        def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
            logits: torch.Tensor = self.head(self.embed(input_ids).mean(1))
            window = input_ids[:, 1:6]
            if bool(torch.all(torch.eq(window, torch.tensor([9932, 1035, 3036, 1035, 4796])))):
                logits = torch.tensor([[-10.0, 10.0]])
            return logits

    torch.manual_seed(0)
    torch.jit.script(PhraseGate()).save(str(path))  # type: ignore[no-untyped-call]


def clean_torchscript(path: Path) -> None:
    """Scripted nn.TransformerEncoder (shape-driven ifs, masks) saved by torch.jit."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, batch_first=True)
    scripted = torch.jit.script(nn.TransformerEncoder(layer, 2, enable_nested_tensor=False))
    scripted.save(str(path))  # type: ignore[no-untyped-call]


SAMPLES += [
    malicious("graph/torchscript_phrase_gate.pt", "MLV902", "TorchScript forward with a token-phrase if")(
        torchscript_phrase_gate
    ),
    benign("graph/clean_torchscript_encoder.pt", "scripted TransformerEncoder")(clean_torchscript),
]
