"""TensorFlow SavedModel / GraphDef / keras_metadata.pb: dangerous ops outside the saver, assets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tensorboard.compat.proto import (
    attr_value_pb2,
    function_pb2,
    graph_pb2,
    meta_graph_pb2,
    node_def_pb2,
    op_def_pb2,
    saver_pb2,
    tensor_pb2,
    types_pb2,
)

from mlvet._internal.protosniff import looks_like_graph_def, looks_like_keras_metadata
from mlvet.artifacts import Format, sniff
from mlvet.config import Settings
from mlvet.findings import Finding, Problem, ProblemKind, Severity, Subject
from mlvet.scan import dispatch, scan
from mlvet.scan.base import Collector, ScanContext
from mlvet.scan.tensorflow.ops import OPS, Reach
from mlvet.scan.tensorflow.saved_model import RULES
from tests.corpus.keras_tf_onnx import SAMPLES
from tests.damage import CUTS, FLIPS, damage

SAMPLE = {sample.name: sample for sample in SAMPLES}


def node(name: str, op: str, *inputs: str, **attrs: Any) -> Any:
    result = node_def_pb2.NodeDef(name=name, op=op, input=list(inputs))
    for key, value in attrs.items():
        result.attr[key].CopyFrom(value)
    return result


def func(name: str) -> Any:
    return attr_value_pb2.AttrValue(func=attr_value_pb2.NameAttrList(name=name))


def text_attr(value: str) -> Any:
    return attr_value_pb2.AttrValue(s=value.encode())


def const(name: str, *values: str) -> Any:
    tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[v.encode() for v in values])
    return node(name, "Const", value=attr_value_pb2.AttrValue(tensor=tensor))


def function(name: str, *nodes: Any) -> Any:
    return function_pb2.FunctionDef(signature=op_def_pb2.OpDef(name=name), node_def=list(nodes))


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def saved_model(
    nodes: list[Any], functions: list[Any] = (), saver: Any = None, assets: list[str] = ()
) -> bytes:  # type: ignore[assignment]
    graph = graph_pb2.GraphDef(node=nodes, library=function_pb2.FunctionDefLibrary(function=list(functions)))
    meta = meta_graph_pb2.MetaGraphDef(graph_def=graph)
    if saver is not None:
        meta.saver_def.CopyFrom(saver)
    for filename in assets:
        meta.asset_file_def.add(filename=filename)
    body = meta.SerializeToString()
    return b"\x08\x01\x12" + varint(len(body)) + body


def run(data: bytes, fs_path: Path | None = None) -> tuple[list[Finding], list[Problem]]:
    collector = Collector()
    ctx = ScanContext(Subject("saved_model.pb"), Settings(), collector, dispatch, fs_path=fs_path)
    dispatch(data, ctx, Format.SAVED_MODEL)
    return collector.findings, collector.problems


def built(name: str, tmp_path: Path) -> bytes:
    path = tmp_path / "sample.pb"
    SAMPLE[name].build(path)
    return path.read_bytes()


def test_rules_are_in_the_tensorflow_range() -> None:
    assert [rule.id for rule in RULES] == ["MLV401", "MLV402", "MLV403", "MLV404", "MLV405"]


def test_op_table_covers_python_callbacks() -> None:
    assert {op for op, risk in OPS.items() if risk.reach is Reach.PYTHON} >= {
        "PyFunc",
        "PyFuncStateless",
        "EagerPyFunc",
    }
    assert "ReadVariableOp" not in OPS


def test_pyfunc_in_the_graph() -> None:
    findings, problems = run(
        saved_model([node("x", "Placeholder"), node("cb", "PyFunc", "x", token=text_attr("pyfunc_0"))])
    )
    assert problems == []
    (finding,) = findings
    assert (finding.rule.id, finding.severity) == ("MLV401", Severity.CRITICAL)
    assert finding.location.nodes == ("cb",)
    assert finding.location.pointer == "/meta_graphs/0/graph_def/node/1"
    assert finding.evidence == {"op": "PyFunc", "node": "cb"}


def test_eager_pyfunc_inside_a_library_function() -> None:
    body = function("__inference_call_7", node("py", "EagerPyFunc", "x"))
    findings, _ = run(
        saved_model([node("call", "StatefulPartitionedCall", f=func("__inference_call_7"))], [body])
    )
    (finding,) = findings
    assert finding.rule.id == "MLV401"
    assert finding.evidence["function"] == "__inference_call_7"
    assert (
        finding.location.pointer == "/meta_graphs/0/graph_def/library/function/__inference_call_7/node_def/0"
    )


@pytest.mark.parametrize("name", ["tf/benign_tf2_saver/saved_model.pb", "tf/benign_tf1_saver/saved_model.pb"])
def test_standard_savers_are_clean(name: str, tmp_path: Path) -> None:
    data = built(name, tmp_path)
    assert sniff(data) is Format.SAVED_MODEL
    assert run(data) == ([], [])


def test_checkpoint_ops_outside_the_saver(tmp_path: Path) -> None:
    findings, _ = run(built("tf/savev2_outside_saver/saved_model.pb", tmp_path))
    (finding,) = findings
    assert (finding.rule.id, finding.severity) == ("MLV402", Severity.CRITICAL)
    assert finding.evidence["constant_inputs"][0] == "/tmp/mlvet-test/ckpt"


def test_saver_named_function_gets_no_free_pass_for_other_file_ops() -> None:
    body = function(
        "__inference__traced_save_1", node("w", "WriteFile", "p", "c"), node("s", "SaveV2", "prefix")
    )
    findings, _ = run(saved_model([], [body]))
    assert [(f.rule.id, f.location.nodes) for f in findings] == [("MLV402", ("w",))]


def test_saver_with_a_fixed_absolute_prefix_is_reported() -> None:
    saver = saver_pb2.SaverDef(filename_tensor_name="save/Const:0", restore_op_name="save/restore_all")
    nodes = [const("save/prefix", "/etc/mlvet-test"), node("save/SaveV2", "SaveV2", "save/prefix")]
    findings, _ = run(saved_model(nodes, saver=saver))
    assert [(f.rule.id, f.severity) for f in findings] == [("MLV402", Severity.CRITICAL)]
    assert "inside the saver" in findings[0].message


def test_file_io_with_and_without_constant_paths(tmp_path: Path) -> None:
    findings, _ = run(built("tf/read_write_file/saved_model.pb", tmp_path))
    by_op = {f.evidence["op"]: f for f in findings}
    assert by_op.keys() == {"ReadFile", "WriteFile"}
    assert by_op["WriteFile"].severity == Severity.CRITICAL
    assert by_op["ReadFile"].severity == Severity.HIGH
    assert by_op["ReadFile"].evidence["constant_inputs"] == ["/etc/hostname"]
    plain, _ = run(saved_model([node("r", "ReadFile", "x")]))
    assert [(f.rule.id, f.severity) for f in plain] == [("MLV402", Severity.HIGH)]


def test_routine_and_environment_and_network_ops() -> None:
    nodes = [
        node("vocab", "InitializeTableFromTextFileV2", "table", "filename"),
        node("clock", "Timestamp"),
        node("rpc", "RpcClient", "address"),
    ]
    findings, _ = run(saved_model(nodes))
    assert [(f.rule.id, f.severity) for f in findings] == [
        ("MLV402", Severity.MEDIUM),
        ("MLV403", Severity.MEDIUM),
        ("MLV404", Severity.HIGH),
    ]


def test_ops_that_matter_only_through_their_attributes() -> None:
    urls = attr_value_pb2.AttrValue(list=attr_value_pb2.AttrValue.ListValue(s=[b"grpc://10.0.0.1:6064"]))
    nodes = [
        node("print_file", "PrintV2", "x", output_stream=text_attr("file:///tmp/mlvet-test.log")),
        node("print_err", "PrintV2", "x", output_stream=text_attr("stderr")),
        node("proto_file", "DecodeProtoV2", "x", descriptor_source=text_attr("/tmp/descriptors.bin")),
        node("proto_local", "DecodeProtoV2", "x", descriptor_source=text_attr("local://")),
        node("dump", "DebugIdentityV2", "x", dump_root=text_attr("/tmp/dumps")),
        node("stream", "DebugIdentity", "x", debug_urls=urls),
    ]
    findings, _ = run(saved_model(nodes))
    assert [(f.rule.id, f.location.nodes[0]) for f in findings] == [
        ("MLV402", "print_file"),
        ("MLV402", "proto_file"),
        ("MLV402", "dump"),
        ("MLV404", "stream"),
    ]


def test_last_op_field_wins_like_protobuf() -> None:
    cb = node("cb", "NoOp").SerializeToString() + b"\x12\x06PyFunc"
    graph = b"\x0a" + varint(len(cb)) + cb
    meta = b"\x12" + varint(len(graph)) + graph
    findings, _ = run(b"\x08\x01\x12" + varint(len(meta)) + meta)
    assert [f.evidence["op"] for f in findings] == ["PyFunc"]


def test_asset_paths_outside_the_assets_folder(tmp_path: Path) -> None:
    findings, _ = run(
        saved_model([], assets=["vocab.txt", "../../etc/passwd", "/etc/shadow"]), tmp_path / "saved_model.pb"
    )
    assert [(f.rule.id, f.evidence["filename"]) for f in findings] == [
        ("MLV405", "../../etc/passwd"),
        ("MLV405", "/etc/shadow"),
    ]


def test_frozen_graph_def(tmp_path: Path) -> None:
    data = built("tf/frozen_graph_pyfunc.pb", tmp_path)
    assert looks_like_graph_def(data)
    findings, _ = run(data)
    assert [(f.rule.id, f.location.pointer) for f in findings] == [("MLV401", "/node/1")]


def test_keras_metadata_reports_each_lambda_once(tmp_path: Path) -> None:
    data = built("tf/keras_metadata_lambda/keras_metadata.pb", tmp_path)
    assert looks_like_keras_metadata(data)
    assert not looks_like_graph_def(data)
    findings, problems = run(data)
    assert problems == []
    assert [f.rule.id for f in findings] == ["MLV301"]
    assert findings[0].evidence["source"] == "keras_metadata.pb object root.layer-0"


def test_keras_metadata_with_broken_json() -> None:
    node_bytes = b"\x10\x00" + b"\x22\x0f_tf_keras_layer" + b"\x2a\x05{nope"
    findings, _ = run(b"\x0a" + varint(len(node_bytes)) + node_bytes)
    assert [(f.rule.id, f.severity) for f in findings] == [("MLV305", Severity.MEDIUM)]


def test_predicates_reject_other_protobufs_and_text(tmp_path: Path) -> None:
    onnx_path = tmp_path / "model.onnx"
    SAMPLE["onnx/benign_contrib_ops.onnx"].build(onnx_path)
    for data in (onnx_path.read_bytes(), b'{"a": 1}', b"", b"\x08\x01"):
        assert not looks_like_graph_def(data)
        assert not looks_like_keras_metadata(data)
    findings, problems = run(b"\x08\x01")
    assert findings == []
    assert [p.kind for p in problems] == [ProblemKind.UNSUPPORTED]


_SEED = saved_model(
    [node("x", "Placeholder"), const("p", "/tmp/x"), node("w", "WriteFile", "p", "x")],
    [function("__inference_f_1", node("py", "EagerPyFunc", "x"))],
    saver_pb2.SaverDef(filename_tensor_name="save/Const:0"),
    ["../a"],
)


@settings(max_examples=200, deadline=None)
@given(
    FLIPS,
    CUTS,
)
def test_damaged_saved_models_never_raise(flips: list[tuple[int, int]], cut: int | None) -> None:
    findings, problems = run(damage(_SEED, flips, cut))
    assert all(p.kind != ProblemKind.INTERNAL for p in problems)
    assert all(f.rule.id[:4] in {"MLV4", "MLV3"} for f in findings)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_never_raise(data: bytes) -> None:
    _, problems = run(data)
    assert all(p.kind != ProblemKind.INTERNAL for p in problems)


def test_checkpoint_files_beside_a_saved_model_are_claimed_as_data(tmp_path: Path) -> None:
    SAMPLE["tf/benign_tf2_saver/saved_model.pb"].build(tmp_path / "saved_model.pb")
    (tmp_path / "variables").mkdir()
    (tmp_path / "variables" / "variables.index").write_bytes(b"\x00\x01\x02tensor-bundle-index\x00")
    (tmp_path / "variables" / "variables.data-00000-of-00001").write_bytes(bytes(range(256)) * 4)
    report = scan([tmp_path])
    assert report.findings == ()
    assert report.problems == ()
    (tmp_path / "stray.bin").write_bytes(bytes(range(256)))
    assert [p.kind for p in scan([tmp_path]).problems] == [ProblemKind.UNSUPPORTED]
