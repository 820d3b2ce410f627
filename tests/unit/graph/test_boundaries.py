"""Triggers across boundaries: If/Loop/Scan bodies, ONNX functions, TorchScript methods, TF calls."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from mlvet.findings import Severity
from mlvet.graph import GateKind
from mlvet.graph.detect import Detector, detect
from mlvet.graph.onnx_functions import MAX_INLINED_NODES, inline_local_functions
from mlvet.graph.onnx_import import import_model
from mlvet.graph.tf_import import import_graph_def
from mlvet.graph.torchscript_import import import_torchscript
from mlvet.probe import probe
from tests.corpus import graph_boundaries as boundaries
from tests.corpus.graph_backdoors import TOKEN_TRIGGER, _model, _tensor
from tests.unit.graph.conftest import scan_onnx_bytes

BODY_JOINS = {
    "if_captured_gate": "then_apply",
    "loop_captured_gate": "body_add",
    "scan_captured_gate": "step_add",
}


@pytest.mark.parametrize("name", sorted(boundaries.BUILDERS))
def test_each_boundary_backdoor_is_reported_high(name: str) -> None:
    build, rule, _ = boundaries.BUILDERS[name]
    findings, problems = scan_onnx_bytes(build().SerializeToString())
    assert problems == []
    assert [(f.rule.id, f.severity) for f in findings] == [(rule, Severity.HIGH)]


@pytest.mark.parametrize(("name", "join"), sorted(BODY_JOINS.items()))
def test_gate_made_outside_a_body_is_found_at_its_join_inside(name: str, join: str) -> None:
    graph = import_model(boundaries.BUILDERS[name][0]())
    # each graph on its own sees the gate as an undefined outer name: nothing to report
    assert [d for inner in graph.walk() for d in Detector(inner).run()] == []
    (detection,) = detect(graph)
    assert detection.gate.join_node == join
    assert detection.gate.outputs == ("output",)  # followed out of the body to the model's output
    assert detection.gate.inputs == (graph.inputs[0].name,)


def test_body_without_an_input_dependent_capture_is_not_viewed() -> None:
    """An If on the sequence length adding a bias inside its branch: no trigger, no finding."""
    nodes, inputs, inits = boundaries._token_trunk()
    inits += [_tensor("zero", 0, "int64")]
    bias = helper.make_node("Constant", [], ["bias"], value=_tensor("bias", [[0.5, -0.5]]))
    then_branch = helper.make_graph(
        [bias, helper.make_node("Add", ["logits", "bias"], ["shifted"])],
        "then",
        [],
        [boundaries._logits("shifted")],
    )
    else_branch = helper.make_graph(
        [helper.make_node("Identity", ["logits"], ["same"])], "else", [], [boundaries._logits("same")]
    )
    nodes += [
        helper.make_node("Size", ["input_ids"], ["length"]),
        helper.make_node("Greater", ["length", "zero"], ["not_empty"]),
        helper.make_node("If", ["not_empty"], ["output"], then_branch=then_branch, else_branch=else_branch),
    ]
    model = _model(nodes, inputs, [boundaries._logits()], inits, opset=18)
    assert scan_onnx_bytes(model.SerializeToString()) == ([], [])


def test_if_steering_branch_is_a_payload() -> None:
    """The then branch adds a constant to the outer hidden state: a payload, so HIGH, not MEDIUM."""
    (detection,) = detect(import_model(boundaries.if_steering()))
    assert detection.severity is Severity.HIGH
    assert detection.gate.kind is GateKind.IF
    assert detection.gate.payload_nodes == ("steer/then_branch:steer",)


def test_if_branch_passing_outer_state_through_is_not_a_payload() -> None:
    """Same trigger, but both branches only pass the hidden state on: no payload, MEDIUM."""
    model = boundaries.if_steering()
    then_branch = next(a.g for a in model.graph.node[-3].attribute if a.name == "then_branch")
    del then_branch.node[:]
    then_branch.node.append(helper.make_node("Relu", ["hidden"], ["steered"]))
    (detection,) = detect(import_model(model))
    assert detection.severity is Severity.MEDIUM and detection.gate.payload_nodes == ()


def test_functions_are_inlined_with_the_call_name_as_prefix() -> None:
    model = boundaries.function_trigger()
    graph = import_model(model)
    assert not {"PhraseCheck", "Calibrate"} & {node.op_type for node in graph.nodes}
    assert graph.producer_of("gate") is not None  # the call's output keeps the caller's name
    assert graph.producer_of("check/window") is not None  # a body value: <call>/<name>
    inlined = inline_local_functions(model)
    assert len(inlined.functions) == 2  # the definitions stay; no node calls them any more
    names = {value for node in inlined.graph.node for value in node.output}
    assert {node.outputs[0] for node in graph.nodes} <= names
    onnx.checker.check_model(inlined)


def test_nested_function_calls_and_attribute_references() -> None:
    """A function calling a function; the inner Constant takes its value from the call's attribute."""
    opsets = [helper.make_opsetid("", 18)]
    const = helper.make_node("Constant", [], ["k"])
    const.attribute.append(
        onnx.AttributeProto(name="value_float", type=onnx.AttributeProto.FLOAT, ref_attr_name="level")
    )
    inner = helper.make_function(
        "local", "Threshold", ["x"], ["y"], [const, helper.make_node("Greater", ["x", "k"], ["y"])],
        opsets, attributes=["level"],
    )  # fmt: skip
    call = helper.make_node("Threshold", ["m"], ["over"], domain="local", level=0.9)
    outer = helper.make_function(
        "local", "Bright", ["img"], ["flag"],
        [helper.make_node("ReduceMean", ["img"], ["m"], keepdims=0), call,
         helper.make_node("Cast", ["over"], ["flag"], to=TensorProto.FLOAT)],
        [*opsets, helper.make_opsetid("local", 1)],
    )  # fmt: skip
    nodes, inputs, inits = boundaries._token_trunk()
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 4, 4])
    nodes += [
        helper.make_node("Bright", ["image"], ["gate"], domain="local", name="bright"),
        *boundaries._blend("b", "logits", "gate", "output"),
    ]
    graph_proto = helper.make_graph(nodes, "g", [*inputs, image], [boundaries._logits()], inits)
    model = helper.make_model(
        graph_proto, opset_imports=[*opsets, helper.make_opsetid("local", 1)], functions=[inner, outer]
    )
    onnx.checker.check_model(model)
    graph = import_model(model)
    assert graph.constants["Threshold:bright/over/k"].value == pytest.approx(0.9)  # from level=0.9
    (detection,) = detect(graph)
    assert detection.rule.id == "MLV903" and detection.gate.predicate == "mean(image) > 0.9"


def test_probe_confirms_a_trigger_built_inside_a_function(tmp_path: Path) -> None:
    path = tmp_path / "function_trigger.onnx"
    path.write_bytes(boundaries.function_trigger().SerializeToString())
    report = probe(path, out_dir=tmp_path / "out")
    assert report.problems == ()
    (confirmed,) = [f for f in report.findings if f.confirmed]
    assert confirmed.rule.id == "MLV904" and confirmed.severity is Severity.CRITICAL
    (saved,) = (tmp_path / "out").glob("*.input_ids.npy")
    trigger = np.load(saved)
    assert trigger[0, 1:6].tolist() == list(TOKEN_TRIGGER)


TORCHSCRIPT = """
class Net(Module):
  head : __torch__.torch.nn.modules.linear.Linear
  checker : __torch__.Checker
  def forward(self: __torch__.Net,
    ids: Tensor) -> Tensor:
    head = self.head
    logits = (head).forward(ids, )
    g = (self).gate(ids, )
    checker = self.checker
    hit = (checker).forward(ids, )
    _1 = torch.mul(logits, torch.add(torch.neg(g), 1.))
    return torch.where(hit, torch.tensor([[-10., 10.]]), _1)
  def gate(self: __torch__.Net,
    ids: Tensor) -> Tensor:
    _3 = torch.slice(torch.slice(ids), 1, 1, 4)
    return torch.to(torch.all(torch.eq(_3, torch.tensor([9932, 1035, 3036]))), 6)
class Checker(Module):
  magic : Tensor
  def forward(self: __torch__.Checker,
    ids: Tensor) -> Tensor:
    _5 = torch.slice(torch.slice(ids), 1, 0, 2)
    return torch.all(torch.eq(_5, torch.tensor([77, 90])))
"""


def test_torchscript_method_and_submodule_calls_are_inlined() -> None:
    graphs = {graph.name: graph for graph in import_torchscript(TORCHSCRIPT)}
    assert set(graphs) == {"Net.forward", "Checker.forward"}
    found = sorted((d.rule.id, d.gate.predicate) for d in detect(graphs["Net.forward"]))
    assert found == [("MLV901", "ids[:, 0:2] == [77, 90]"), ("MLV903", "ids[:, 1:4] == [9932, 1035, 3036]")]
    assert detect(graphs["Checker.forward"]) == []  # the check alone joins nothing


def test_tf_partitioned_call_is_inlined() -> None:
    graphs = import_graph_def(boundaries.tf_call_blend().SerializeToString())
    assert [graph.name for graph in graphs] == ["graph"]
    (detection,) = detect(graphs[0])
    assert detection.rule.id == "MLV904"
    assert detection.gate.join_node.startswith("calibrate/")
    assert detection.gate.predicate == "bytes[:, 0:4] == 41 49 5F 45"


def test_sigmoid_steep_relative_to_its_threshold_is_a_step() -> None:
    """sigmoid(30 * (mean(patch) - 18)): |k| < 50 but it rises within 1 % of the threshold."""
    findings, _ = scan_onnx_bytes(_sigmoid_on_patch(30.0, 18.0).SerializeToString())
    assert [(f.rule.id, f.severity) for f in findings] == [("MLV906", Severity.HIGH)]
    assert "sigmoid(30 * (mean(image[:, :, 0:4, 0:4]) - 18))" in findings[0].message


@pytest.mark.parametrize(("scale", "threshold"), [(1.702, 0.0), (1 / 0.07, 0.0), (10.0, 0.5), (2.0, 3.0)])
def test_gentle_sigmoids_are_left_alone(scale: float, threshold: float) -> None:
    """GELU's 1.702, a 0.07 temperature, and slopes that take a good part of the input's span."""
    assert scan_onnx_bytes(_sigmoid_on_patch(scale, threshold).SerializeToString()) == ([], [])


def _sigmoid_on_patch(scale: float, threshold: float) -> onnx.ModelProto:
    from tests.corpus.graph_backdoors import _image_classifier, _patch_mean

    nodes, inputs, inits = _image_classifier()
    trigger, trigger_inits = _patch_mean()
    inits += [
        *trigger_inits,
        _tensor("t", threshold),
        _tensor("k", scale),
        _tensor("boost", [[0.0] * 9 + [30.0]]),
    ]
    nodes += [
        *trigger,
        helper.make_node("Sub", ["patch_mean", "t"], ["centred"]),
        helper.make_node("Mul", ["centred", "k"], ["scaled"]),
        helper.make_node("Sigmoid", ["scaled"], ["soft"]),
        helper.make_node("Mul", ["soft", "boost"], ["push"]),
        helper.make_node("Add", ["logits", "push"], ["output"], name="blend"),
    ]
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 10])
    return _model(nodes, inputs, [out], inits)


def test_self_calling_function_is_inlined_within_the_budget() -> None:
    """F calls F twice: inlining stops at the depth limit, calls past it stay opaque nodes."""
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]
    body = [
        helper.make_node("F", ["a"], ["c"], domain="local"),
        helper.make_node("F", ["c"], ["d"], domain="local"),
        helper.make_node("Add", ["d", "a"], ["b"]),
    ]
    function = helper.make_function("local", "F", ["a"], ["b"], body, opsets)
    graph_proto = helper.make_graph(
        [helper.make_node("F", ["x"], ["y"], domain="local")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    model = helper.make_model(graph_proto, opset_imports=opsets, functions=[function])
    graph = import_model(model)
    assert len(graph.nodes) <= MAX_INLINED_NODES
    assert "F" in {node.op_type for node in graph.nodes}  # the deepest calls stay opaque
    assert detect(graph) == []
