"""``mlvet scan`` parses an ONNX model once: the serialization checks read the onnx package's message.

The message walk must report what the wire-format walk reports (it replaces it whenever the onnx
package is installed), on every place a Python op or an external tensor can hide.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from mlvet.artifacts import Format
from mlvet.config import Settings
from mlvet.findings import Subject
from mlvet.scan import dispatch
from mlvet.scan.base import Collector, ScanContext
from mlvet.scan.onnx_format import _ModelWalk
from mlvet.scan.onnx_message import MessageWalk
from tests.unit.graph.conftest import scan_onnx_bytes


def _external(name: str, location: str) -> TensorProto:
    tensor = numpy_helper.from_array(np.zeros(2, np.float32), name)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    return tensor


def _everywhere() -> bytes:
    """A PyOp in a function body, external data in an If branch, a custom-domain op in the graph."""
    pyop = helper.make_node("PyOp", ["a"], ["b"], domain="ai.onnx.contrib", module="os", class_name="system")
    function = helper.make_function(
        "local", "Hook", ["a"], ["b"], [pyop], [helper.make_opsetid("ai.onnx.contrib", 1)]
    )
    branch_const = helper.make_node("Constant", [], ["c"], value=_external("leak", "../../etc/passwd"))
    branch = helper.make_graph(
        [branch_const], "then", [], [helper.make_tensor_value_info("c", TensorProto.FLOAT, [2])]
    )
    nodes = [
        helper.make_node("Hook", ["x"], ["h"], domain="local", name="hook_call"),
        helper.make_node("Mystery", ["h"], ["m"], domain="vendor.ops", name="mystery"),
        helper.make_node("ReduceMax", ["m"], ["top"], keepdims=0),
        helper.make_node("Cast", ["top"], ["flag"], to=TensorProto.BOOL),
        helper.make_node("If", ["flag"], ["y"], then_branch=branch, else_branch=branch, name="switch"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        [_external("weights", "/abs/weights.bin")],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local", 1)],
        functions=[function],
    )
    return bytes(model.SerializeToString())


def _walk_findings(walk_class: type[_ModelWalk], data: bytes) -> list[tuple[str, str, object]]:
    import onnx

    collector = Collector()
    ctx = ScanContext(Subject("model.onnx"), Settings(), collector, dispatch)
    walk = walk_class(ctx)
    walk.model(onnx.ModelProto.FromString(data) if walk_class is MessageWalk else memoryview(data))
    walk.flush()
    return [(f.rule.id, f.message, f.location) for f in collector.findings]


def test_message_walk_reports_what_the_wire_walk_reports() -> None:
    data = _everywhere()
    from_message = _walk_findings(MessageWalk, data)
    assert from_message == _walk_findings(_ModelWalk, data)
    assert sorted(rule for rule, _, _ in from_message) == ["MLV451", "MLV452", "MLV452", "MLV453"]


def test_scan_uses_one_parse_and_still_reports_everything() -> None:
    findings, problems = scan_onnx_bytes(_everywhere())
    assert problems == []
    assert sorted(f.rule.id for f in findings) == ["MLV451", "MLV452", "MLV452", "MLV453"]


def test_names_that_are_not_utf8_are_read_with_replacement() -> None:
    """upb hands back bytes for such a proto2 string; the walk decodes them as the wire walk does."""
    node = helper.make_node("PyOp", ["x"], ["y"], name="NAME", domain="ai.onnx.contrib")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    data = helper.make_model(graph).SerializeToString().replace(b"NAME", b"N\xffME")
    collector = Collector()
    ctx = ScanContext(Subject("model.onnx"), Settings(), collector, dispatch)
    dispatch(data, ctx, Format.ONNX)
    (finding,) = collector.findings
    assert finding.rule.id == "MLV451"
    assert finding.message.startswith("node 'N\ufffdME' is a ai.onnx.contrib::PyOp")


def test_value_names_that_are_not_utf8_reach_the_graph_rules_as_text() -> None:
    """A damaged tensor name in a trigger's chain: the graph rules still run and report it."""
    from tests.corpus.graph_backdoors import byte_where

    data = byte_where().SerializeToString().replace(b"matches_i", b"matches\xfe\xff")  # same length
    assert b"matches\xfe\xff" in data
    findings, problems = scan_onnx_bytes(data)
    assert problems == []
    (finding,) = findings
    assert finding.rule.id == "MLV904"
    assert "Cast:matches\ufffd\ufffd" in finding.location.nodes
