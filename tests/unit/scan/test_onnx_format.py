"""ONNX serialization checks: Python ops, external data escaping the model folder, custom domains."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx.numpy_helper
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from mlvet._internal.paths import location_escape
from mlvet.artifacts import Format
from mlvet.config import Settings
from mlvet.findings import Finding, Problem, ProblemKind, Severity, Subject
from mlvet.scan import SCANNERS, dispatch, scan
from mlvet.scan.base import Collector, ScanContext
from mlvet.scan.onnx_format import RULES
from tests.damage import CUTS, FLIPS, damage

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def model(nodes: list[Any], initializers: list[Any] = (), **kwargs: Any) -> onnx.ModelProto:  # type: ignore[assignment]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        initializer=list(initializers),
    )
    return helper.make_model(
        graph, opset_imports=kwargs.pop("opsets", [helper.make_opsetid("", 17)]), **kwargs
    )


def external(name: str, location: str) -> TensorProto:
    tensor = helper.make_tensor(name, TensorProto.FLOAT, [2], [0.0, 0.0])
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    return tensor


def run(data: bytes, fs_path: Path | None = None) -> tuple[list[Finding], list[Problem]]:
    collector = Collector()
    ctx = ScanContext(Subject("model.onnx"), Settings(), collector, dispatch, fs_path=fs_path)
    dispatch(data, ctx, Format.ONNX)
    return collector.findings, collector.problems


def run_model(proto: onnx.ModelProto, fs_path: Path | None = None) -> list[Finding]:
    findings, problems = run(proto.SerializeToString(), fs_path)
    assert problems == []
    return findings


def test_registered_and_in_range() -> None:
    assert Format.ONNX in SCANNERS
    assert [rule.id for rule in RULES] == ["MLV451", "MLV452", "MLV453"]


@pytest.mark.parametrize("name", sorted(p.name for p in LIGHT.glob("*.onnx")))
def test_real_models_are_clean(name: str) -> None:
    assert run_model(onnx.load_model(str(LIGHT / name), load_external_data=False)) == []


def test_pyop_names_its_python_callable() -> None:
    node = helper.make_node(
        "PyOp", ["x"], ["y"], name="hook", domain="pyops", module="os", class_name="system", compute="run"
    )
    (finding,) = run_model(model([node]))
    assert (finding.rule.id, finding.severity) == ("MLV451", Severity.CRITICAL)
    assert finding.message == "node 'hook' is a pyops::PyOp that runs Python (os.system)"
    assert finding.evidence == {
        "op_type": "PyOp",
        "domain": "pyops",
        "node": "hook",
        "module": "os",
        "class_name": "system",
        "compute": "run",
    }
    assert finding.location.pointer == "/graph/node/0"


def test_extensions_python_ops_and_native_contrib_ops() -> None:
    python_op = helper.make_node("PyReverseMatrix", ["x"], ["t"], domain="ai.onnx.contrib")
    native = helper.make_node("StringRegexReplace", ["t"], ["y"], domain="ai.onnx.contrib")
    findings = run_model(model([python_op, native]))
    assert [(f.rule.id, f.severity) for f in findings] == [
        ("MLV451", Severity.CRITICAL),
        ("MLV453", Severity.LOW),
    ]


def test_standard_and_contrib_domains_are_quiet() -> None:
    nodes = [
        helper.make_node("Gelu", ["x"], ["a"], domain="com.microsoft"),
        helper.make_node("Normalizer", ["a"], ["b"], domain="ai.onnx.ml"),
        helper.make_node("Relu", ["b"], ["y"], domain="ai.onnx"),
    ]
    assert run_model(model(nodes)) == []


def test_unknown_domain_is_one_aggregated_finding() -> None:
    nodes = [
        helper.make_node("Frob", ["x"], ["a"], domain="acme"),
        helper.make_node("Frob", ["a"], ["b"], domain="acme"),
    ]
    nodes.append(helper.make_node("Twiddle", ["b"], ["y"], domain="acme"))
    (finding,) = run_model(model(nodes))
    assert (finding.rule.id, finding.severity) == ("MLV453", Severity.LOW)
    assert finding.evidence == {"domain": "acme", "op_types": ["Frob", "Twiddle"], "node_count": 3}


def test_model_local_functions_are_known_but_their_bodies_are_checked() -> None:
    body = [helper.make_node("PyFunc", ["a"], ["b"], domain="evil")]
    local = helper.make_function("mylib", "Block", ["a"], ["b"], body, [helper.make_opsetid("", 17)])
    call = helper.make_node("Block", ["x"], ["y"], domain="mylib")
    findings = run_model(model([call], functions=[local]))
    assert [(f.rule.id, f.location.pointer) for f in findings] == [("MLV451", "/functions/0/node/0")]


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("../../etc/passwd", "climbs with '..'"),
        ("sub/../../x.bin", "climbs with '..'"),
        ("/etc/passwd", "absolute path"),
        ("\\\\server\\share\\w.bin", "absolute path"),
        ("C:\\Windows\\win.ini", "drive-qualified path"),
        ("C:w.bin", "drive-qualified path"),
        ("w\x00.bin", "contains a NUL byte"),
    ],
)
def test_escaping_external_data(location: str, reason: str) -> None:
    (finding,) = run_model(model([helper.make_node("Add", ["x", "w"], ["y"])], [external("w", location)]))
    assert (finding.rule.id, finding.severity) == ("MLV452", Severity.HIGH)
    assert reason in finding.message
    assert finding.evidence["location"] == location
    assert finding.evidence["data_location_external"] is True


def test_external_data_inside_the_directory_is_fine(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    proto = model(
        [helper.make_node("Add", ["x", "w"], ["y"])], [external("w", "sub/w.bin"), external("v", "w.bin")]
    )
    assert run_model(proto, tmp_path / "model.onnx") == []


def test_symlink_escape_needs_the_file_on_disk(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "secret.txt").write_text("mlvet-test")
    (tmp_path / "model" / "w.bin").symlink_to(tmp_path / "secret.txt")
    proto = model([helper.make_node("Add", ["x", "w"], ["y"])], [external("w", "w.bin")])
    assert run_model(proto) == []
    (finding,) = run_model(proto, tmp_path / "model" / "model.onnx")
    assert "through a symlink" in finding.message


def test_tensors_sharing_a_file_are_reported_once() -> None:
    proto = model(
        [helper.make_node("Add", ["x", "w"], ["y"])], [external(f"w{i}", "/data/w.bin") for i in range(30)]
    )
    (finding,) = run_model(proto)
    assert finding.evidence["tensor_count"] == 30
    assert len(finding.evidence["tensors"]) == 10


def test_escapes_hidden_in_subgraphs_attributes_and_sparse_tensors() -> None:
    def branch(name: str, tensor: TensorProto) -> onnx.GraphProto:
        const = helper.make_node("Constant", [], [f"{name}_out"], value=tensor)
        return helper.make_graph(
            [const], name, [], [helper.make_tensor_value_info(f"{name}_out", TensorProto.FLOAT, [2])]
        )

    loop_body = branch("body", external("deep", "../loop.bin"))
    inner_if = helper.make_node(
        "If", ["c"], ["o"], then_branch=loop_body, else_branch=branch("e", external("e", "../else.bin"))
    )
    outer_then = helper.make_graph(
        [inner_if], "then", [], [helper.make_tensor_value_info("o", TensorProto.FLOAT, [2])]
    )
    outer_if = helper.make_node(
        "If", ["c"], ["y"], then_branch=outer_then, else_branch=branch("e2", external("t", "/abs.bin"))
    )
    listed = helper.make_node("Foo", ["x"], ["z"], tensors=[external("listed", "../listed.bin")])
    proto = model([outer_if, listed])
    indices = helper.make_tensor("i", TensorProto.INT64, [1], [0])
    proto.graph.sparse_initializer.append(
        helper.make_sparse_tensor(external("sv", "../sparse.bin"), indices, [2])
    )
    findings = run_model(proto)
    escaped = {f.evidence["location"] for f in findings if f.rule.id == "MLV452"}
    assert escaped == {"../loop.bin", "../else.bin", "/abs.bin", "../listed.bin", "../sparse.bin"}
    pointers = {f.evidence["location"]: f.location.pointer for f in findings}
    assert (
        pointers["../loop.bin"]
        == "/graph/node/0/attribute/1/then_branch/node/0/attribute/1/then_branch/node/0/attribute/0/value"
    )
    assert pointers["../sparse.bin"] == "/graph/sparse_initializer/0/values"


def test_training_info_graphs_are_walked() -> None:
    proto = model([helper.make_node("Relu", ["x"], ["y"])])
    init = helper.make_graph([helper.make_node("PyOp", [], ["k"], domain="d")], "init", [], [])
    proto.training_info.add().initialization.CopyFrom(init)
    assert [(f.rule.id, f.location.pointer) for f in run_model(proto)] == [
        ("MLV451", "/training_info/0/initialization/node/0")
    ]


def test_last_domain_field_wins_like_protobuf() -> None:
    node = helper.make_node("Frob", ["x"], ["y"], domain="").SerializeToString() + b"\x3a\x04acme"
    graph = b"\x0a" + bytes([len(node)]) + node
    data = b"\x08\x08" + b"\x3a" + bytes([len(graph)]) + graph
    findings, _ = run(data)
    assert [f.evidence["domain"] for f in findings] == ["acme"]


def test_deeply_nested_subgraphs_stop_at_the_limit() -> None:
    def field(number: int, payload: bytes) -> bytes:  # hand-encoded: protobuf refuses such depth itself
        return _varint(number << 3 | 2) + _varint(len(payload)) + payload

    graph = field(1, field(4, b"Relu"))
    for _ in range(70):
        attribute = field(1, b"then_branch") + field(6, graph)
        graph = field(1, field(4, b"If") + field(5, attribute))
    findings, problems = run(b"\x08\x08" + field(7, graph))
    assert findings == []
    assert [p.kind for p in problems] == [ProblemKind.LIMIT]


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def test_scan_reads_the_model_through_a_memory_map(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    onnx.save_model(
        model([helper.make_node("Add", ["x", "w"], ["y"])], [external("w", "../w.bin")]), str(path)
    )
    report = scan([path])
    assert [f.rule.id for f in report.findings] == ["MLV452"]


def test_location_escape_rules(tmp_path: Path) -> None:
    assert location_escape("weights.bin", None) is None
    assert location_escape("a/b/../c", None) == "climbs with '..'"
    assert location_escape("", tmp_path / "m.onnx") is None
    assert location_escape("d/w.bin", tmp_path / "m.onnx") is None


_SEED = model(
    [
        helper.make_node("PyOp", ["x"], ["a"], domain="d", module="os"),
        helper.make_node(
            "If",
            ["c"],
            ["y"],
            then_branch=helper.make_graph([], "t", [], []),
            else_branch=helper.make_graph([], "e", [], []),
        ),
    ],
    [external("w", "../w.bin")],
).SerializeToString()


@settings(max_examples=200, deadline=None)
@given(
    FLIPS,
    CUTS,
)
def test_damaged_models_never_raise(flips: list[tuple[int, int]], cut: int | None) -> None:
    findings, problems = run(damage(_SEED, flips, cut))
    assert all(p.kind != ProblemKind.INTERNAL for p in problems)
    assert all(f.rule.id.startswith("MLV45") for f in findings)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_never_raise(data: bytes) -> None:
    _, problems = run(data)
    assert all(p.kind != ProblemKind.INTERNAL for p in problems)


def test_external_data_written_by_onnx_is_claimed(tmp_path: Path) -> None:
    weight = onnx.numpy_helper.from_array(np.arange(64, dtype=np.float32), "w")
    proto = model([helper.make_node("Add", ["x", "w"], ["y"])], [weight])
    onnx.save_model(
        proto, str(tmp_path / "m.onnx"), save_as_external_data=True, location="m.data", size_threshold=0
    )
    report = scan([tmp_path])
    assert report.findings == ()
    assert report.problems == ()
