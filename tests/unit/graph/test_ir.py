"""The IR and the ONNX importer: indexes, subgraph captures, bounded constants, no external data."""

from __future__ import annotations

import sys
import time

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from onnx import TensorProto, helper, numpy_helper

from mlvet.findings import ProblemKind
from mlvet.graph import find_gates
from mlvet.graph.detect import detect
from mlvet.graph.ir import MAX_CONSTANT_ELEMENTS, Constant, Graph, Node, ValueInfo
from mlvet.graph.onnx_import import import_model, import_onnx
from tests.corpus.graph_backdoors import byte_where, patch_if, token_where
from tests.damage import CUTS, FLIPS, damage
from tests.unit.graph.conftest import scan_onnx_bytes


def test_indexes_and_topological_order() -> None:
    nodes = [
        Node("second", "Relu", "", ("a",), ("b",)),
        Node("first", "Neg", "", ("x",), ("a",)),
    ]
    graph = Graph("g", nodes, [ValueInfo("x", "float32", (2,))], [ValueInfo("b", "float32", (2,))], {})
    assert [node.name for node in graph.nodes] == ["first", "second"]
    assert graph.producer_of("b") is not None and graph.producer_of("b").name == "second"  # type: ignore[union-attr]
    assert [node.name for node in graph.consumers_of("a")] == ["second"]


def test_if_branches_become_subgraphs_with_captures() -> None:
    graph = import_model(patch_if())
    gate = next(node for node in graph.nodes if node.op_type == "If")
    assert set(gate.subgraphs) == {"then_branch", "else_branch"}
    assert gate.captures == ("logits",)
    assert any(node.name == "gate" for node in graph.consumers_of("logits"))
    assert "forced" not in graph.constants
    then_branch = gate.subgraphs["then_branch"]
    assert then_branch.constants["then_out"].value is not None


def test_large_and_external_constants_keep_only_shape() -> None:
    big = numpy_helper.from_array(np.zeros(MAX_CONSTANT_ELEMENTS + 1, np.float32), "big")
    external = TensorProto(
        name="ext", data_type=TensorProto.FLOAT, dims=[4], data_location=TensorProto.EXTERNAL
    )
    external.external_data.add(key="location", value="/etc/passwd")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "ext"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
        [big, external],
    )
    imported = import_model(helper.make_model(graph))
    assert imported.constants["big"] == Constant("big", "float32", (MAX_CONSTANT_ELEMENTS + 1,), None)
    assert imported.constants["ext"].value is None and imported.constants["ext"].shape == (4,)


def test_token_input_types_are_read() -> None:
    graph = import_model(token_where())
    assert graph.inputs == [ValueInfo("input_ids", "int64", (1, 16))]


def _synthetic_transformer(blocks: int) -> bytes:
    """Residual MatMul/Where/Relu/Add blocks, each with a padding-mask Where on the token ids, as ONNX."""
    weights = numpy_helper.from_array(np.zeros((64, 64), np.float32), "w")
    pad = numpy_helper.from_array(np.array(0, np.int64), "pad")
    fill = numpy_helper.from_array(np.array(-1e4, np.float32), "fill")
    nodes = [
        helper.make_node("Equal", ["input_ids", "pad"], ["is_pad"]),
        helper.make_node("Cast", ["input_ids"], ["h"], to=TensorProto.FLOAT),
    ]
    current = "h"
    for block in range(blocks):
        nodes += [
            helper.make_node("MatMul", [current, "w"], [f"m{block}"]),
            helper.make_node("Where", ["is_pad", "fill", f"m{block}"], [f"masked{block}"]),
            helper.make_node("Relu", [f"masked{block}"], [f"r{block}"]),
            helper.make_node("Add", [f"r{block}", current], [f"a{block}"]),
            helper.make_node("Identity", [f"a{block}"], [f"h{block}"]),
        ]
        current = f"h{block}"
    graph = helper.make_graph(
        nodes,
        "synthetic",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, 64])],
        [helper.make_tensor_value_info(current, TensorProto.FLOAT, [1, 64])],
        [weights, pad, fill],
    )
    return bytes(helper.make_model(graph).SerializeToString())


def test_100k_node_graph_is_analysed_in_linear_time() -> None:
    """CPU time of this process: on a shared machine the wall clock also counts other jobs."""
    data = _synthetic_transformer(20_000)
    started = time.process_time()
    graph = import_onnx(data)
    imported = time.process_time()
    assert len(graph.nodes) == 100_002
    assert detect(graph) == []
    finished = time.process_time()
    print(f"100k nodes: import {imported - started:.2f} s, analysis {finished - imported:.2f} s")
    assert finished - started < 6.0


@settings(max_examples=150, deadline=None)
@given(flips=FLIPS, cut=CUTS)
def test_damaged_models_give_findings_or_problems_never_errors(
    flips: list[tuple[int, int]], cut: int | None
) -> None:
    seed = byte_where().SerializeToString()
    data = damage(seed, flips, cut)
    _, problems = scan_onnx_bytes(data)
    assert all(problem.kind is not ProblemKind.INTERNAL for problem in problems), problems
    try:
        gates = find_gates(data)
    except ValueError:
        return
    assert isinstance(gates, list)


def test_onnx_model_round_trip_is_not_needed_for_detection() -> None:
    model = onnx.ModelProto.FromString(byte_where().SerializeToString())
    assert [gate.join_node for gate in find_gates(model.SerializeToString())] == ["suppress"]


def test_missing_onnx_package_is_a_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    data = byte_where().SerializeToString()
    monkeypatch.setitem(sys.modules, "onnx", None)
    findings, problems = scan_onnx_bytes(data)
    assert findings == []
    assert [(p.kind, p.message) for p in problems] == [
        (
            ProblemKind.MISSING_EXTRA,
            "graph backdoor analysis needs the onnx package: pip install 'mlvet[onnx]'",
        )
    ]
