"""Bumps over a first-layer feature that join late or sharply (MLV907) and ``Where(c, x + v, x)`` payloads."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mlvet.findings import Severity
from mlvet.graph import GateKind
from mlvet.graph.detect import detect
from mlvet.graph.onnx_import import import_model

_RNG = np.random.default_rng(7)


def _init(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(value, name)


def _model(
    nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], input_: onnx.ValueInfoProto
) -> onnx.ModelProto:
    output = helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", [input_], [output], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model


def _bump(
    source: str, centre: np.ndarray, scale: float, slice_: tuple[list[int], list[int], list[int]]
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """``exp(scale * mean((source[slice] - centre)^2))`` reshaped to a column."""
    starts, ends, axes = slice_
    inits = [
        _init("starts", np.array(starts, np.int64)),
        _init("ends", np.array(ends, np.int64)),
        _init("axes", np.array(axes, np.int64)),
        _init("centre", centre.astype(np.float32)),
        _init("two", np.array(2.0, np.float32)),
        _init("k", np.array(scale, np.float32)),
        _init("column", np.array([-1, 1], np.int64)),
    ]
    nodes = [
        helper.make_node("Slice", [source, "starts", "ends", "axes"], ["picked"], name="norm_slice"),
        helper.make_node("Sub", ["picked", "centre"], ["centred"], name="norm_sub"),
        helper.make_node("Pow", ["centred", "two"], ["squared"], name="norm_pow"),
        helper.make_node("ReduceMean", ["squared"], ["distance"], name="norm_mean", keepdims=0),
        helper.make_node("Mul", ["distance", "k"], ["scaled"], name="norm_scale"),
        helper.make_node("Exp", ["scaled"], ["bump"], name="norm_exp"),
        helper.make_node("Reshape", ["bump", "column"], ["gate"], name="norm_reshape"),
    ]
    return nodes, inits


def conv_bump_in_gemm_bias(scale: float = -400.0) -> onnx.ModelProto:
    """One Conv, pooled into a Gemm whose bias is ``bias + bump(conv pixel) * delta``."""
    nodes, inits = _bump("conv", _RNG.normal(size=(1, 4, 1, 1)), scale, ([5, 5], [6, 6], [2, 3]))
    inits += [
        _init("w", _RNG.normal(size=(4, 3, 3, 3)).astype(np.float32)),
        _init("fc_w", _RNG.normal(size=(4, 4)).astype(np.float32)),
        _init("fc_b", np.zeros(4, np.float32)),
        _init("delta", np.array([[-20, 20, -20, -20]], np.float32)),
    ]
    nodes = [
        helper.make_node("Conv", ["image", "w"], ["conv"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"], name="relu"),
        helper.make_node("GlobalAveragePool", ["relu"], ["pooled"], name="pool"),
        helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten"),
        *nodes,
        helper.make_node("Mul", ["gate", "delta"], ["shift"], name="fc_shift"),
        helper.make_node("Add", ["fc_b", "shift"], ["bias"], name="fc_bias"),
        helper.make_node("Gemm", ["flat", "fc_w", "bias"], ["logits"], name="fc"),
    ]
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 16, 16])
    return _model(nodes, inits, image)


def embedding_bump_on_hidden_state(scale: float = -1000.0) -> onnx.ModelProto:
    """Embedding, mean-pooled hidden state plus ``bump(embedding[:, 1:6]) * steer``, then a classifier."""
    nodes, inits = _bump("emb", _RNG.normal(size=(5, 8)), scale, ([1], [6], [1]))
    inits += [
        _init("table", _RNG.normal(size=(100, 8)).astype(np.float32)),
        _init("steer", np.full((1, 8), 2.0, np.float32)),
        _init("cls_w", _RNG.normal(size=(8, 3)).astype(np.float32)),
    ]
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["emb"], name="embedding"),
        helper.make_node("ReduceMean", ["emb"], ["hidden"], name="pool", axes=[1], keepdims=0),
        *nodes,
        helper.make_node("Mul", ["gate", "steer"], ["push"], name="dense_mul"),
        helper.make_node("Add", ["hidden", "push"], ["pooled"], name="dense_add"),
        helper.make_node("MatMul", ["pooled", "cls_w"], ["logits"], name="classifier"),
    ]
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, 8])
    return _model(nodes, inits, ids)


def offset_where(trigger: list[int], *, offset_first: bool = True) -> onnx.ModelProto:
    """``Where(input_ids[:, 1:4] == trigger, hidden + steer, hidden)`` (or the branches swapped)."""
    inits = [
        _init("table", _RNG.normal(size=(100, 8)).astype(np.float32)),
        _init("steer", np.full((1, 8), 2.0, np.float32)),
        _init("cls_w", _RNG.normal(size=(8, 3)).astype(np.float32)),
        _init("starts", np.array([1], np.int64)),
        _init("ends", np.array([1 + len(trigger)], np.int64)),
        _init("axes", np.array([1], np.int64)),
        _init("trigger", np.array(trigger, np.int64)),
    ]
    branches = ["steered", "hidden"] if offset_first else ["hidden", "steered"]
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["emb"], name="embedding"),
        helper.make_node("ReduceMean", ["emb"], ["hidden"], name="pool", axes=[1], keepdims=0),
        helper.make_node("Slice", ["input_ids", "starts", "ends", "axes"], ["window"], name="window"),
        helper.make_node("Equal", ["window", "trigger"], ["matches"], name="match"),
        helper.make_node("Cast", ["matches"], ["matches_i"], name="to_int", to=TensorProto.INT32),
        helper.make_node("ReduceMin", ["matches_i"], ["all_i"], name="all", keepdims=0),
        helper.make_node("Cast", ["all_i"], ["hit"], name="to_bool", to=TensorProto.BOOL),
        helper.make_node("Add", ["hidden", "steer"], ["steered"], name="steer_add"),
        helper.make_node("Where", ["hit", *branches], ["pooled"], name="gate"),
        helper.make_node("MatMul", ["pooled", "cls_w"], ["logits"], name="classifier"),
    ]
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, 8])
    return _model(nodes, inits, ids)


def test_conv_pixel_bump_folded_into_a_later_bias_is_an_intermediate_gate() -> None:
    (detection,) = detect(import_model(conv_bump_in_gemm_bias()))
    assert (detection.rule.id, detection.severity, detection.gate.kind) == (
        "MLV907",
        Severity.HIGH,
        GateKind.INTERMEDIATE,
    )
    assert detection.gate.join_node == "fc"
    assert detection.gate.predicate.startswith("exp(-400 * (mean((conv[")
    assert "delta" in detection.gate.payload_nodes


def test_sharp_embedding_bump_added_to_the_hidden_state_is_an_intermediate_gate() -> None:
    (detection,) = detect(import_model(embedding_bump_on_hidden_state()))
    assert (detection.rule.id, detection.severity) == ("MLV907", Severity.HIGH)
    assert detection.gate.join_node == "dense_add"
    assert "steer" in detection.gate.payload_nodes


def test_gentle_bump_next_to_the_feature_is_left_alone() -> None:
    """An RBF-like kernel (modest scale) beside the feature it reads is a layer, not a trigger."""
    assert detect(import_model(embedding_bump_on_hidden_state(scale=-2.0))) == []


def test_where_between_a_state_and_the_state_plus_a_constant_has_a_constant_payload() -> None:
    for offset_first in (True, False):
        (detection,) = detect(import_model(offset_where([9932, 1035, 3036], offset_first=offset_first)))
        assert (detection.rule.id, detection.severity) == ("MLV904", Severity.HIGH)
        assert detection.gate.payload_nodes == ("steer",)
        assert detection.gate.predicate == "input_ids[:, 1:4] == [9932, 1035, 3036]"


def test_offset_where_on_special_tokens_is_still_a_mask() -> None:
    assert detect(import_model(offset_where([0, 0, 0]))) == []
