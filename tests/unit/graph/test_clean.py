"""Legitimate data-dependent patterns stay silent: masks, guards, clamps, abstain heads, routers, int8."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from mlvet.findings import Severity
from mlvet.graph.detect import detect
from mlvet.graph.onnx_import import import_model
from mlvet.scan import scan
from tests.corpus.graph_backdoors import CLEAN
from tests.unit.graph.conftest import scan_onnx_bytes


@pytest.fixture(scope="module")
def clean_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clean")
    for name, (build, _) in CLEAN.items():
        build(root / name)
    return root


@pytest.mark.parametrize("name", sorted(CLEAN))
def test_clean_models_have_no_finding(clean_dir: Path, name: str) -> None:
    report = scan([clean_dir / name])
    assert report.problems == ()
    assert [(f.rule.id, f.message) for f in report.findings if f.severity >= Severity.LOW] == []
    expected = 9 if name == "clean_light_models" else 5 if name == "clean_node_tests" else 1
    assert len(report.subjects) == expected


def _mask_model(condition_nodes: list[onnx.NodeProto], fill: float) -> bytes:
    """scores [1, 4] from a MatMul, masked with Where(condition, fill, scores)."""
    import numpy as np
    from onnx import numpy_helper

    nodes = [
        helper.make_node("Cast", ["input_ids"], ["ids_f"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["ids_f", "w"], ["scores"]),
        *condition_nodes,
        helper.make_node("Where", ["masked", "fill", "scores"], ["output"]),
    ]
    inits = [
        numpy_helper.from_array(np.ones((4, 4), np.float32), "w"),
        numpy_helper.from_array(np.array(fill, np.float32), "fill"),
        numpy_helper.from_array(np.array(0, np.int64), "pad"),
        numpy_helper.from_array(np.array(50256, np.int64), "eos"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, 4])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return bytes(model.SerializeToString())


def test_padding_mask_on_pad_id_is_not_a_trigger() -> None:
    data = _mask_model([helper.make_node("Equal", ["input_ids", "pad"], ["masked"])], float("-inf"))
    assert scan_onnx_bytes(data) == ([], [])


def test_single_id_compared_across_the_sequence_is_a_mask() -> None:
    data = _mask_model([helper.make_node("Equal", ["input_ids", "eos"], ["masked"])], -10000.0)
    assert scan_onnx_bytes(data) == ([], [])


def test_shape_derived_condition_is_not_value_dependent() -> None:
    shape_nodes = [
        helper.make_node("Shape", ["input_ids"], ["shape"]),
        helper.make_node("ReduceProd", ["shape"], ["count"], keepdims=0),
        helper.make_node("Greater", ["count", "pad"], ["masked"]),
    ]
    assert scan_onnx_bytes(_mask_model(shape_nodes, 0.0)) == ([], [])


def test_nan_guard_and_bool_input_if_are_silent() -> None:
    guard = _mask_model([helper.make_node("IsNaN", ["scores"], ["masked"])], 0.0)
    assert detect(import_model(onnx.ModelProto.FromString(guard))) == []


def test_early_exit_between_two_computed_heads_is_not_a_gate() -> None:
    import numpy as np
    from onnx import numpy_helper

    def weights(name: str, shape: tuple[int, ...]) -> onnx.TensorProto:
        return numpy_helper.from_array(np.ones(shape, np.float32), name)

    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h1"]),
        helper.make_node("MatMul", ["h1", "early_w"], ["early_logits"]),
        helper.make_node("Softmax", ["early_logits"], ["early_p"]),
        helper.make_node("ReduceMax", ["early_p"], ["confidence"], keepdims=0),
        helper.make_node("Greater", ["confidence", "exit_threshold"], ["confident"]),
        helper.make_node("MatMul", ["h1", "w2"], ["h2"]),
        helper.make_node("MatMul", ["h2", "final_w"], ["final_logits"]),
        helper.make_node("Where", ["confident", "early_logits", "final_logits"], ["output"]),
    ]
    inits = [
        weights("w1", (4, 4)), weights("w2", (4, 4)), weights("early_w", (4, 3)), weights("final_w", (4, 3)),
        numpy_helper.from_array(np.array(0.9, np.float32), "exit_threshold"),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes,
        "early_exit",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert scan_onnx_bytes(model.SerializeToString()) == ([], [])
