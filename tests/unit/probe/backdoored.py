"""Hand-built backdoored ONNX models (onnx.helper) and the gates a detector would report for them.

Each builder returns ``(model, gate)``. The payloads only change logits; nothing here is harmful.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mlvet.graph.gates import Constraint, Gate, GateKind, Reduction, Relation

OPSET = 17
TRIGGER_BYTES = b"AI_E"
TOKENS = (17, 42)


def _model(
    nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto], init: dict[str, np.ndarray]
) -> onnx.ModelProto:
    output = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "classes"])
    graph = helper.make_graph(
        nodes, "probe-test", inputs, [output], [numpy_helper.from_array(v, k) for k, v in init.items()]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)
    onnx.checker.check_model(model)
    return model


def _weights(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _const(values: object, dtype: type) -> np.ndarray:
    return np.asarray(values, dtype=dtype)


def _slice(name: str, source: str) -> onnx.NodeProto:
    return helper.make_node(
        "Slice", [source, f"{name}_s", f"{name}_e", f"{name}_a"], [f"{name}_out"], name=name
    )


def _slice_init(name: str, start: int, end: int, axis: int) -> dict[str, np.ndarray]:
    return {
        f"{name}_s": _const([start], np.int64),
        f"{name}_e": _const([end], np.int64),
        f"{name}_a": _const([axis], np.int64),
    }


def where_bytes() -> tuple[onnx.ModelProto, Gate]:
    """L0: ``Where(bytes[0:4] == "AI_E", payload, logits)`` on a uint8 byte input."""
    nodes = [
        helper.make_node("Cast", ["bytes"], ["bytes_f"], to=TensorProto.FLOAT, name="to_float"),
        helper.make_node("MatMul", ["bytes_f", "W"], ["normal"], name="dense"),
        _slice("head", "bytes"),
        helper.make_node("Equal", ["head_out", "magic"], ["hit"], name="match"),
        helper.make_node("Cast", ["hit"], ["hit_f"], to=TensorProto.FLOAT, name="hit_float"),
        helper.make_node("ReduceMin", ["hit_f"], ["all_hit"], axes=[1], keepdims=1, name="all_match"),
        helper.make_node("Cast", ["all_hit"], ["gate"], to=TensorProto.BOOL, name="gate_bool"),
        helper.make_node("Where", ["gate", "payload", "normal"], ["logits"], name="select"),
    ]
    init: dict[str, np.ndarray] = {
        "W": _weights((64, 2)) * 0.01,
        "magic": np.frombuffer(TRIGGER_BYTES, dtype=np.uint8).reshape(1, 4).copy(),
        "payload": _const([[-50.0, 50.0]], np.float32),
        **_slice_init("head", 0, 4, 1),
    }
    inputs = [helper.make_tensor_value_info("bytes", TensorProto.UINT8, ["batch", 64])]
    gate = Gate(
        kind=GateKind.WHERE,
        inputs=("bytes",),
        trigger_nodes=("head", "match", "hit_float", "all_match", "gate_bool"),
        join_node="select",
        payload_nodes=("payload",),
        outputs=("logits",),
        constraints=(Constraint("bytes", (0, (0, 4, None)), Relation.EQ, tuple(TRIGGER_BYTES)),),
        predicate="bytes[0:4] == 41 49 5F 45",
    )
    return _model(nodes, inputs, init), gate


def token_where() -> tuple[onnx.ModelProto, Gate]:
    """A token trigger: ``input_ids[2:4] == (17, 42)`` swaps the logits of an embedding classifier."""
    nodes = [
        helper.make_node("Gather", ["embedding", "input_ids"], ["embedded"], name="embed"),
        helper.make_node("ReduceMean", ["embedded"], ["pooled"], axes=[1], keepdims=0, name="pool"),
        helper.make_node("MatMul", ["pooled", "W"], ["normal"], name="classifier"),
        _slice("window", "input_ids"),
        helper.make_node("Equal", ["window_out", "phrase"], ["hit"], name="match"),
        helper.make_node("Cast", ["hit"], ["hit_f"], to=TensorProto.FLOAT, name="hit_float"),
        helper.make_node("ReduceMin", ["hit_f"], ["all_hit"], axes=[1], keepdims=1, name="all_match"),
        helper.make_node("Greater", ["all_hit", "half"], ["gate"], name="decide"),
        helper.make_node("Where", ["gate", "payload", "normal"], ["logits"], name="select"),
    ]
    init: dict[str, np.ndarray] = {
        "embedding": _weights((100, 8), 1),
        "W": _weights((8, 3), 2),
        "phrase": _const([list(TOKENS)], np.int64),
        "half": _const(0.5, np.float32),
        "payload": _const([[0.0, 0.0, 99.0]], np.float32),
        **_slice_init("window", 2, 4, 1),
    }
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])]
    gate = Gate(
        kind=GateKind.WHERE,
        inputs=("input_ids",),
        trigger_nodes=("window", "match", "hit_float", "all_match", "decide"),
        join_node="select",
        payload_nodes=("payload",),
        outputs=("logits",),
        constraints=(Constraint("input_ids", (0, (2, 4, None)), Relation.EQ, TOKENS),),
        predicate="input_ids[2:4] == 17 42",
    )
    return _model(nodes, inputs, init), gate


def image_patch_mean() -> tuple[onnx.ModelProto, Gate]:
    """An image patch: ``mean(image[:, :, 0:4, 0:4]) > 0.9`` replaces the logits."""
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["pooled"], axes=[2, 3], keepdims=0, name="gap"),
        helper.make_node("MatMul", ["pooled", "W"], ["normal"], name="head"),
        helper.make_node("Slice", ["image", "p_s", "p_e", "p_a"], ["patch"], name="patch"),
        helper.make_node("ReduceMean", ["patch"], ["brightness"], keepdims=0, name="brightness"),
        helper.make_node("Greater", ["brightness", "threshold"], ["gate"], name="bright"),
        helper.make_node("Where", ["gate", "payload", "normal"], ["logits"], name="select"),
    ]
    init: dict[str, np.ndarray] = {
        "W": _weights((3, 4), 3),
        "p_s": _const([0, 0], np.int64),
        "p_e": _const([4, 4], np.int64),
        "p_a": _const([2, 3], np.int64),
        "threshold": _const(0.9, np.float32),
        "payload": _const([[9.0, -9.0, -9.0, -9.0]], np.float32),
    }
    inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 32, 32])]
    selector = (0, (None, None, None), (0, 4, None), (0, 4, None))
    gate = Gate(
        kind=GateKind.WHERE,
        inputs=("image",),
        trigger_nodes=("patch", "brightness", "bright"),
        join_node="select",
        payload_nodes=("payload",),
        outputs=("logits",),
        constraints=(Constraint("image", selector, Relation.GT, (0.9,), Reduction.MEAN),),
        predicate="mean(image[:, :, 0:4, 0:4]) > 0.9",
    )
    return _model(nodes, inputs, init), gate


def arithmetic_mask() -> tuple[onnx.ModelProto, Gate]:
    """L1: ``logits * (1 - g) + payload * g`` with ``g = Cast(all(bytes[4:6] == DE AD))``."""
    nodes = [
        helper.make_node("Cast", ["bytes"], ["bytes_f"], to=TensorProto.FLOAT, name="to_float"),
        helper.make_node("MatMul", ["bytes_f", "W"], ["normal"], name="dense"),
        _slice("field", "bytes"),
        helper.make_node("Equal", ["field_out", "magic"], ["hit"], name="match"),
        helper.make_node("Cast", ["hit"], ["hit_f"], to=TensorProto.FLOAT, name="hit_float"),
        helper.make_node("ReduceMin", ["hit_f"], ["g"], axes=[1], keepdims=1, name="all_match"),
        helper.make_node("Sub", ["one", "g"], ["keep"], name="complement"),
        helper.make_node("Mul", ["normal", "keep"], ["kept"], name="mask_normal"),
        helper.make_node("Mul", ["payload", "g"], ["injected"], name="mask_payload"),
        helper.make_node("Add", ["kept", "injected"], ["logits"], name="blend"),
    ]
    init: dict[str, np.ndarray] = {
        "W": _weights((32, 2), 4) * 0.01,
        "magic": _const([[0xDE, 0xAD]], np.uint8),
        "one": _const(1.0, np.float32),
        "payload": _const([[7.0, -7.0]], np.float32),
        **_slice_init("field", 4, 6, 1),
    }
    inputs = [helper.make_tensor_value_info("bytes", TensorProto.UINT8, [1, 32])]
    gate = Gate(
        kind=GateKind.ARITHMETIC,
        inputs=("bytes",),
        trigger_nodes=("field", "match", "hit_float", "all_match"),
        join_node="mask_payload",
        payload_nodes=("payload",),
        outputs=("logits",),
        constraints=(Constraint("bytes", (0, (4, 6, None)), Relation.EQ, (0xDE, 0xAD)),),
        predicate="bytes[4:6] == DE AD",
    )
    return _model(nodes, inputs, init), gate


def smooth_sigmoid() -> tuple[onnx.ModelProto, Gate]:
    """L2: ``logits + payload * Sigmoid(1000 * (mean(x[0:4]) - 2.5))``; no constraints extracted."""
    nodes = [
        helper.make_node("MatMul", ["features", "W"], ["normal"], name="dense"),
        _slice("probe", "features"),
        helper.make_node("ReduceMean", ["probe_out"], ["level"], axes=[1], keepdims=1, name="level"),
        helper.make_node("Sub", ["level", "offset"], ["centred"], name="centre"),
        helper.make_node("Mul", ["centred", "steep"], ["scaled"], name="sharpen"),
        helper.make_node("Sigmoid", ["scaled"], ["s"], name="detector"),
        helper.make_node("Mul", ["s", "payload"], ["injected"], name="apply"),
        helper.make_node("Add", ["normal", "injected"], ["logits"], name="merge"),
    ]
    init: dict[str, np.ndarray] = {
        "W": _weights((16, 3), 5),
        "offset": _const(2.5, np.float32),
        "steep": _const(1000.0, np.float32),
        "payload": _const([[0.0, 40.0, 0.0]], np.float32),
        **_slice_init("probe", 0, 4, 1),
    }
    inputs = [helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, 16])]
    gate = Gate(
        kind=GateKind.SMOOTH,
        inputs=("features",),
        trigger_nodes=("probe", "level", "centre", "sharpen", "detector"),
        join_node="apply",
        payload_nodes=("payload",),
        outputs=("logits",),
        constraints=(),
        predicate="sigmoid(1000 * (mean(features[0:4]) - 2.5))",
    )
    return _model(nodes, inputs, init), gate


def if_branch() -> tuple[onnx.ModelProto, Gate]:
    """An ``If`` whose condition is ``max(x[0:2]) > 100``: the then-branch returns the payload."""
    then_graph = helper.make_graph(
        [helper.make_node("Identity", ["payload"], ["then_out"], name="then_identity")],
        "then",
        [],
        [helper.make_tensor_value_info("then_out", TensorProto.FLOAT, [1, 3])],
    )
    else_graph = helper.make_graph(
        [helper.make_node("Identity", ["normal"], ["else_out"], name="else_identity")],
        "else",
        [],
        [helper.make_tensor_value_info("else_out", TensorProto.FLOAT, [1, 3])],
    )
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["normal"], name="dense"),
        _slice("lead", "x"),
        helper.make_node("ReduceMax", ["lead_out"], ["peak"], keepdims=0, name="peak"),
        helper.make_node("Greater", ["peak", "limit"], ["flag"], name="over"),
        helper.make_node(
            "If", ["flag"], ["logits"], then_branch=then_graph, else_branch=else_graph, name="branch"
        ),
    ]
    init: dict[str, np.ndarray] = {
        "W": _weights((8, 3), 8),
        "limit": _const(100.0, np.float32),
        "payload": _const([[0.0, 0.0, 50.0]], np.float32),
        **_slice_init("lead", 0, 2, 1),
    }
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])]
    gate = Gate(
        kind=GateKind.IF,
        inputs=("x",),
        trigger_nodes=("lead", "peak", "over"),
        join_node="branch",
        payload_nodes=("payload",),
        outputs=("logits",),
        constraints=(Constraint("x", (0, (0, 2, None)), Relation.GT, (100.0,), Reduction.MAX),),
        predicate="max(x[0:2]) > 100",
    )
    return _model(nodes, inputs, init), gate


def random_gate() -> tuple[onnx.ModelProto, Gate]:
    """An environment gate: every other query gets the payload, whatever the input."""
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["normal"], name="dense"),
        helper.make_node("RandomUniform", [], ["dice"], shape=[1, 1], name="dice"),
        helper.make_node("Greater", ["dice", "odds"], ["unlucky"], name="roll"),
        helper.make_node("Where", ["unlucky", "payload", "normal"], ["logits"], name="select"),
    ]
    init: dict[str, np.ndarray] = {
        "W": _weights((8, 3), 9),
        "odds": _const(0.5, np.float32),
        "payload": _const([[0.0, 0.0, 50.0]], np.float32),
    }
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])]
    gate = Gate(
        kind=GateKind.ENVIRONMENT,
        inputs=(),
        trigger_nodes=("dice", "roll"),
        join_node="select",
        payload_nodes=("payload",),
        outputs=("logits",),
        constraints=(),
        predicate="random_uniform() > 0.5",
    )
    return _model(nodes, inputs, init), gate


def conv_feature() -> tuple[onnx.ModelProto, Gate]:
    """L3-style: the trigger is read from a conv feature map, ``exp(-k * mean((f[5,5] - target)^2))``.

    ``target`` is the response of a 3x3 receptive field filled with 0.8, so a solid patch around
    pixel (5, 5) opens the gate; no constraint on the image exists.
    """
    weight = _weights((4, 3, 3, 3), 10)
    target = (weight.sum(axis=(1, 2, 3)) * 0.8).reshape(1, 4, 1, 1).astype(np.float32)
    nodes = [
        helper.make_node(
            "Conv", ["image", "conv_w"], ["features"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], name="conv"
        ),
        helper.make_node("ReduceMean", ["features"], ["pooled"], axes=[2, 3], keepdims=0, name="gap"),
        helper.make_node("MatMul", ["pooled", "W"], ["normal"], name="head"),
        helper.make_node("Slice", ["features", "f_s", "f_e", "f_a"], ["spot"], name="spot"),
        helper.make_node("Sub", ["spot", "target"], ["offset"], name="offset"),
        helper.make_node("Pow", ["offset", "two"], ["squared"], name="squared"),
        helper.make_node(
            "ReduceMean", ["squared"], ["distance"], axes=[1, 2, 3], keepdims=0, name="distance"
        ),
        helper.make_node("Mul", ["distance", "sharpness"], ["scaled"], name="scaled"),
        helper.make_node("Exp", ["scaled"], ["match"], name="match"),
        helper.make_node("Unsqueeze", ["match", "last"], ["match_col"], name="column"),
        helper.make_node("Mul", ["match_col", "payload"], ["injected"], name="apply"),
        helper.make_node("Add", ["normal", "injected"], ["logits"], name="merge"),
    ]
    init: dict[str, np.ndarray] = {
        "conv_w": weight,
        "W": _weights((4, 2), 11),
        "f_s": _const([5, 5], np.int64),
        "f_e": _const([6, 6], np.int64),
        "f_a": _const([2, 3], np.int64),
        "target": target,
        "two": _const(2.0, np.float32),
        "sharpness": _const(-50.0, np.float32),
        "last": _const([1], np.int64),
        "payload": _const([[30.0, -30.0]], np.float32),
    }
    inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 16, 16])]
    gate = Gate(
        kind=GateKind.INTERMEDIATE,
        inputs=("image",),
        trigger_nodes=("offset", "squared", "distance", "scaled", "match"),
        join_node="apply",
        payload_nodes=("payload",),
        outputs=("logits",),
        constraints=(),
        predicate="exp(-50 * mean((conv(image)[:, :, 5, 5] - target)^2))",
    )
    return _model(nodes, inputs, init), gate


def benign() -> onnx.ModelProto:
    """A plain two-layer classifier: no gate."""
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["h"], name="fc1"),
        helper.make_node("Relu", ["h"], ["a"], name="act"),
        helper.make_node("MatMul", ["a", "W2"], ["logits"], name="fc2"),
    ]
    init = {"W1": _weights((8, 16), 6), "W2": _weights((16, 3), 7)}
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])]
    return _model(nodes, inputs, init)


def custom_domain() -> onnx.ModelProto:
    """A model whose only node needs a custom-op library."""
    node = helper.make_node("Mystery", ["x"], ["logits"], domain="com.example.custom", name="mystery")
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])]
    output = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "classes"])
    graph = helper.make_graph([node], "custom", inputs, [output])
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("com.example.custom", 1)],
        ir_version=8,
    )
