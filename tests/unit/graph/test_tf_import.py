"""TensorFlow GraphDefs -> graph IR, and the backdoor rules (MLV9xx) run from the TensorFlow scanner."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tensorboard.compat.proto import (
    attr_value_pb2,
    function_pb2,
    graph_pb2,
    tensor_pb2,
    tensor_shape_pb2,
    types_pb2,
)

from mlvet.artifacts import Format, sniff
from mlvet.config import Settings
from mlvet.findings import Finding, Problem, ProblemKind, Severity, Subject
from mlvet.graph.detect import detect
from mlvet.graph.tf_import import import_graph_def
from mlvet.graph.tf_ops import RENAMED, SAME
from mlvet.graph.tf_wire import tensor_constant
from mlvet.scan import dispatch
from mlvet.scan.base import Collector, ScanContext
from tests.corpus import graph_tensorflow as tf
from tests.corpus.graph_tensorflow import BYTE_TRIGGER, const, node, placeholder, strided_slice
from tests.corpus.keras_tf_onnx import SAMPLES as FORMAT_SAMPLES
from tests.damage import CUTS, FLIPS, damage


def run(data: bytes) -> tuple[list[Finding], list[Problem]]:
    collector = Collector()
    ctx = ScanContext(Subject("model.pb"), Settings(), collector, dispatch)
    dispatch(data, ctx, Format.SAVED_MODEL)
    return collector.findings, collector.problems


def graph_findings(data: bytes) -> list[Finding]:
    findings, problems = run(data)
    assert problems == []
    return [finding for finding in findings if finding.rule.id.startswith("MLV9")]


def frozen(graph: Any) -> bytes:
    data: bytes = graph.SerializeToString()
    return data


def test_magic_bytes_select_is_a_sequence_trigger() -> None:
    data = frozen(tf.magic_bytes_select())
    assert sniff(data) is Format.SAVED_MODEL
    findings = graph_findings(data)
    assert [(f.rule.id, f.severity) for f in findings] == [("MLV904", Severity.HIGH)]
    message = findings[0].message
    assert message == (
        "where gate at node 'output' opens when bytes[:, 0:2] == 41 49 and bytes[:, 2:4] == 5F 45, "
        "bringing in payload (feeds output)"
    )
    evidence = findings[0].evidence
    assert [c["value"] for c in evidence["constraints"]] == [[65.0, 73.0], [95.0, 69.0]]
    assert [c["selector"] for c in evidence["constraints"]] == [
        [[None, None, None], [0, 2, None]],
        [[None, None, None], [2, 4, None]],
    ]


def test_arithmetic_cast_mul_gate() -> None:
    findings = graph_findings(frozen(tf.patch_arithmetic()))
    assert [(f.rule.id, f.severity) for f in findings] == [("MLV903", Severity.HIGH)]
    assert "mean(image[:, 0:4]) > 0.9" in findings[0].message


def test_clean_mlp_has_no_gate() -> None:
    assert graph_findings(frozen(tf.clean_mlp())) == []


def test_dropout_of_a_training_function_is_not_a_gate() -> None:
    """tf.nn.dropout: uniform noise shaped like the activation, kept where >= rate."""
    assert graph_findings(frozen(tf.random_select(dropout=True))) == []


def test_scalar_random_draw_gating_the_output() -> None:
    findings = graph_findings(frozen(tf.random_select(dropout=False)))
    assert [(f.rule.id, f.severity) for f in findings] == [("MLV908", Severity.HIGH)]


def test_import_maps_ops_and_constants() -> None:
    graph = import_graph_def(frozen(tf.magic_bytes_select()))[0]
    ops = {node.name: node.op_type for node in graph.nodes}
    assert ops["output"] == "Where"
    assert ops["armed"] == "And"
    assert ops["all0"] == "ReduceMin"
    assert ops["dense1/BiasAdd"] == "Add"
    assert ops["to_float"] == "Cast"
    assert graph.nodes[[n.name for n in graph.nodes].index("to_float")].attributes == {"to": 1}
    info = graph.input_info("bytes")
    assert info is not None
    assert (info.elem_type, info.shape) == ("uint8", (None, 16))
    expected, minus_one = (graph.constants[name].value for name in ("expected1", "minus_one"))
    assert expected is not None and expected.tolist() == BYTE_TRIGGER[2:]
    assert minus_one is not None and minus_one.tolist() == -1
    slice_node = next(node for node in graph.nodes if node.op_type == "Slice")
    starts, ends, axes, _ = (graph.constants[name].value for name in slice_node.inputs[1:5])
    assert starts is not None and starts.tolist() == [0, 0]
    assert ends is not None and ends.tolist() == [2**63 - 1, 2]
    assert axes is not None and axes.tolist() == [0, 1]
    assert [info.name for info in graph.outputs] == ["output"]  # the node nothing reads


def test_shrink_axis_becomes_gather_and_not_equal_becomes_not() -> None:
    nodes = [
        placeholder("ids", types_pb2.DT_INT32, 1, 8),
        *strided_slice("first", "ids", [0, 2], [1, 3], shrink_axis_mask=2),
        const("five", 5, types_pb2.DT_INT32, packed=False),
        node("differs", "NotEqual", "first", "five"),
    ]
    graph = import_graph_def(frozen(graph_pb2.GraphDef(node=nodes)))[0]
    assert [node.op_type for node in graph.nodes] == ["Slice", "Gather", "Equal", "Not"]
    gather = graph.nodes[1]
    assert gather.attributes == {"axis": 1}
    assert graph.constants[gather.inputs[1]].value == 2


def _tensor(**fields: Any) -> Any:
    dims = fields.pop("dims", ())
    proto = tensor_pb2.TensorProto(tensor_shape=tf.shape_proto(dims), **fields)
    return tensor_constant("t", memoryview(proto.SerializeToString()))


def test_tensor_values_follow_tensorflow_rules() -> None:
    repeated = _tensor(dtype=types_pb2.DT_INT32, dims=(4,), int_val=[7, -2])
    assert repeated.value is not None and repeated.value.tolist() == [7, -2, -2, -2]  # last value repeated
    wide = _tensor(dtype=types_pb2.DT_INT64, dims=(2,), int64_val=[-(2**40), 3])
    assert wide.value is not None and wide.value.tolist() == [-(2**40), 3]
    half = _tensor(dtype=types_pb2.DT_HALF, dims=(1,), half_val=[0x3C00])
    assert half.value is not None and half.value.tolist() == [1.0]
    empty = _tensor(dtype=types_pb2.DT_FLOAT, dims=(2, 2))
    assert empty.value is not None and empty.value.tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert _tensor(dtype=types_pb2.DT_INT32, dims=(2,), int_val=[1], int64_val=[2]).value is None
    assert _tensor(dtype=types_pb2.DT_INT32, dims=(1,), int_val=[1, 2]).value is None
    unknown = _tensor(dtype=types_pb2.DT_FLOAT, dims=(-1, 3), float_val=[1.0])
    assert (unknown.value, unknown.shape) == (None, (0, 3))
    huge = _tensor(dtype=types_pb2.DT_FLOAT, dims=(1 << 40, 1 << 40), tensor_content=b"\0" * 8)
    assert (huge.value, huge.shape) == (None, ())
    strings = _tensor(dtype=types_pb2.DT_STRING, dims=(1,), string_val=[b"x"])
    assert (strings.dtype, strings.value) == ("string", None)


def test_gate_inside_a_library_function_of_a_saved_model() -> None:
    """The serving call's function is inlined into the graph: its gate reads the real input."""
    data = tf.saved_model(tf.function_select(), ("StatefulPartitionedCall:0",))
    graphs = import_graph_def(tf.function_select().SerializeToString())
    assert [graph.name for graph in graphs] == ["graph"]  # the called function is not imported again
    graph = graphs[0]
    assert graph.input_names == ["serving_default_x"]
    assert "kernel" in graph.constants  # the variable the function reads stays a weight
    assert [info.name for info in graph.outputs] == ["StatefulPartitionedCall"]
    assert graph.producer_of("StatefulPartitionedCall/select") is not None
    findings = graph_findings(data)
    assert [(f.rule.id, f.severity) for f in findings] == [("MLV901", Severity.HIGH)]
    assert findings[0].message.startswith("where gate at node 'StatefulPartitionedCall/select'")
    assert "serving_default_x[:, 0:4] == [0.25, 0.5, 0.75, 1]" in findings[0].message


@pytest.mark.parametrize(("output", "expected"), [("output:0", ["MLV904"]), ("logits:0", [])])
def test_signature_outputs_limit_the_graph_to_what_they_compute(output: str, expected: list[str]) -> None:
    """A TF1 SavedModel: only the signature outputs' ancestors are analysed (not training ops)."""
    findings = graph_findings(tf.saved_model(tf.magic_bytes_select(), (output,)))
    assert [f.rule.id for f in findings] == expected


def test_if_with_a_constant_branch() -> None:
    graphs = import_graph_def(frozen(tf.if_constant_branch()))
    assert len(graphs) == 1  # branches are subgraphs of the If node, not graphs of their own
    if_node = next(node for node in graphs[0].nodes if node.op_type == "If")
    assert set(if_node.subgraphs) == {"then_branch", "else_branch"}
    assert if_node.captures == ("logits",)
    findings = graph_findings(tf.saved_model(tf.if_constant_branch(), ("cond:0",)))
    assert [(f.rule.id, f.severity) for f in findings] == [("MLV902", Severity.HIGH)]
    assert "mean(x[0:1, 0:4]) > 0.9" in findings[0].message


@pytest.mark.parametrize("sample", [s for s in FORMAT_SAMPLES if s.name.startswith("tf/") and not s.expected])
def test_benign_saved_models_of_the_corpus_have_no_gate(sample: Any, tmp_path: Path) -> None:
    path = tmp_path / "saved_model.pb"
    sample.build(path)
    assert graph_findings(path.read_bytes()) == []


_SEEDS = [
    frozen(tf.magic_bytes_select()),
    tf.saved_model(tf.function_select(), ("StatefulPartitionedCall:0",)),
]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(_SEEDS), FLIPS, CUTS)
def test_damaged_graph_defs_never_raise(seed: bytes, flips: list[tuple[int, int]], cut: int | None) -> None:
    data = damage(seed, flips, cut)
    _, problems = run(data)
    assert all(p.kind != ProblemKind.INTERNAL for p in problems)
    with contextlib.suppress(ValueError):  # a WireError: malformed protobuf
        for graph in import_graph_def(data):
            detect(graph)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_random_graph_bytes_never_raise(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        import_graph_def(data)


_OPS = sorted(
    {
        *RENAMED,
        *SAME,
        "Placeholder",
        "Const",
        "VarHandleOp",
        "ReadVariableOp",
        "StatefulPartitionedCall",
        "Unknown",
    }
)
_REFS = st.sampled_from(["n0", "n1:0", "n2:1", "^n3", "n4", "n5:output:0", "arg", "", ":", "n1::"])


@st.composite
def _attr(draw: st.DrawFn) -> Any:
    kind = draw(st.integers(0, 6))
    if kind == 0:
        return attr_value_pb2.AttrValue(type=draw(st.integers(0, 130)))
    if kind == 1:
        return attr_value_pb2.AttrValue(i=draw(st.integers(-(1 << 63), (1 << 63) - 1)))
    if kind == 2:
        return attr_value_pb2.AttrValue(
            list=attr_value_pb2.AttrValue.ListValue(i=draw(st.lists(st.integers(-9, 9))))
        )
    if kind == 3:
        return attr_value_pb2.AttrValue(
            func=attr_value_pb2.NameAttrList(name=draw(st.sampled_from(["f", "g"])))
        )
    if kind == 4:
        dims = draw(st.lists(st.integers(-2, 5), max_size=4))
        return attr_value_pb2.AttrValue(
            shape=tensor_shape_pb2.TensorShapeProto(
                dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims]
            )
        )
    dims = draw(st.lists(st.integers(-1, 4), max_size=3))
    tensor = tensor_pb2.TensorProto(
        dtype=draw(st.sampled_from([1, 3, 4, 7, 9, 10, 19, 20, 22])),
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims]
        ),
        int_val=draw(st.lists(st.integers(-(1 << 31), (1 << 31) - 1), max_size=6)),
        float_val=draw(st.lists(st.floats(width=32), max_size=3)),
        tensor_content=draw(st.binary(max_size=24)),
    )
    return attr_value_pb2.AttrValue(tensor=tensor)


_KEYS = ["DstT", "dtype", "value", "shape", "begin_mask", "end_mask", "shrink_axis_mask", "ellipsis_mask",
         "axis", "keep_dims", "squeeze_dims", "then_branch", "else_branch"]  # fmt: skip


@st.composite
def _nodes(draw: st.DrawFn) -> list[Any]:
    count = draw(st.integers(1, 12))
    nodes = []
    for index in range(count):
        attrs = draw(st.dictionaries(st.sampled_from(_KEYS), _attr(), max_size=3))
        inputs = draw(st.lists(_REFS, max_size=4))
        nodes.append(node(f"n{index}", draw(st.sampled_from(_OPS)), *inputs, **attrs))
    return nodes


@settings(max_examples=150, deadline=None)
@given(_nodes(), _nodes())
def test_arbitrary_graph_defs_import_and_analyse(main: list[Any], body: list[Any]) -> None:
    """Any op with any inputs and attributes: findings or problems, never an exception."""
    functions = [
        tf.tf_function(
            name, [("arg", types_pb2.DT_FLOAT), ("res", types_pb2.DT_RESOURCE)], body, {"o": "n1:z:0"}
        )
        for name in ("f", "g")
    ]
    library = function_pb2.FunctionDefLibrary(function=functions)
    data = graph_pb2.GraphDef(node=main, library=library).SerializeToString()
    for graph in import_graph_def(data):
        detect(graph)
    _, problems = run(tf.saved_model(graph_pb2.GraphDef.FromString(data), ("n0:0", "n2:1")))
    assert all(p.kind != ProblemKind.INTERNAL for p in problems)
