"""Each hand-built backdoor is found by its rule, with the predicate in words and the right nodes."""

from __future__ import annotations

import json

import pytest

from mlvet.findings import Severity
from mlvet.graph import GateKind, Reduction, Relation, find_gates
from mlvet.graph.detect import detect
from mlvet.graph.onnx_import import import_model
from tests.corpus.graph_backdoors import BACKDOORS, byte_where, patch_arithmetic, token_where
from tests.unit.graph.conftest import scan_onnx_bytes

EXPECTED = {
    "patch_where": ("MLV901", GateKind.WHERE, "gate", "mean(image[:, :, 0:4, 0:4]) > 0.9"),
    "patch_if": ("MLV902", GateKind.IF, "gate", "mean(image[:, :, 0:4, 0:4]) > 0.9"),
    "patch_arithmetic": (
        "MLV903",
        GateKind.ARITHMETIC,
        "apply_keep",
        "mean((image[:, 0:1] > 0.8 and image[:, 1:2] < 0.2)) > 0.05",
    ),
    "byte_where": ("MLV904", GateKind.WHERE, "suppress", "bytes[0:4] == 41 49 5F 45"),
    "token_where": ("MLV904", GateKind.WHERE, "gate", "input_ids[:, 1:6] == [9932, 1035, 3036, 1035, 4796]"),
    "token_steering": (
        "MLV904",
        GateKind.ARITHMETIC,
        "residual_add",
        "input_ids[:, 1:6] == [9932, 1035, 3036, 1035, 4796]",
    ),
    "smooth_sigmoid": ("MLV906", GateKind.SMOOTH, "blend", "sigmoid(100 * (image[:, :, 0:4, 0:4] - 0.9))"),
    "hidden_feature_gate": ("MLV907", GateKind.INTERMEDIATE, "gate", "mean(h0) > 5"),
    "random_gate": ("MLV908", GateKind.ENVIRONMENT, "gate", "RandomUniform() < 0.01"),
    "trojannet_side_path": (
        "MLV905",
        GateKind.ARITHMETIC,
        "merge",
        "side branch of 2 layer(s) over image merged by Add after the model's 9 layers",
    ),
}


@pytest.mark.parametrize("name", sorted(BACKDOORS))
def test_each_backdoor_is_one_high_finding_of_its_rule(name: str) -> None:
    rule_id, kind, join, predicate = EXPECTED[name]
    detections = detect(import_model(BACKDOORS[name][0]()))
    assert [(d.rule.id, d.severity, d.gate.kind, d.gate.join_node) for d in detections] == [
        (rule_id, Severity.HIGH, kind, join)
    ]
    gate = detections[0].gate
    assert gate.predicate == predicate
    assert gate.payload_nodes
    assert gate.outputs == ("output",)


def test_byte_trigger_constraint_and_nodes() -> None:
    (gate,) = find_gates(byte_where().SerializeToString())
    assert gate.inputs == ("bytes",)
    assert "magic_eq" in gate.trigger_nodes
    assert gate.payload_nodes == ("benign_logits",)
    (constraint,) = gate.constraints
    assert (constraint.input, constraint.selector, constraint.relation) == (
        "bytes",
        ((0, 4, None),),
        Relation.EQ,
    )
    assert bytes(int(v) for v in constraint.value) == b"AI_E"


def test_token_trigger_constraint() -> None:
    (gate,) = find_gates(token_where().SerializeToString())
    (constraint,) = gate.constraints
    assert constraint.selector == ((None, None, None), (1, 6, None))
    assert constraint.value == (9932.0, 1035.0, 3036.0, 1035.0, 4796.0)


def test_patch_mean_constraint_is_a_threshold_on_a_reduction() -> None:
    (gate,) = find_gates(BACKDOORS["patch_where"][0]().SerializeToString())
    (constraint,) = gate.constraints
    assert constraint.reduction is Reduction.MEAN and constraint.relation is Relation.GT
    assert constraint.selector == ((None, None, None), (None, None, None), (0, 4, None), (0, 4, None))
    assert constraint.value == pytest.approx((0.9,))


def test_shadowlogic_fraction_gate_constrains_each_pixel_test() -> None:
    (gate,) = find_gates(patch_arithmetic().SerializeToString())
    relations = {(c.selector[1], c.relation) for c in gate.constraints}
    assert relations == {((0, 1, None), Relation.GT), ((1, 2, None), Relation.LT)}
    assert {"red_gt", "green_lt", "pixel_and", "fraction_mean", "flag_gt"} <= set(gate.trigger_nodes)


def test_scan_reports_gate_with_serialisable_evidence() -> None:
    findings, problems = scan_onnx_bytes(token_where().SerializeToString())
    assert problems == []
    (finding,) = findings
    assert finding.rule.id == "MLV904" and finding.severity is Severity.HIGH
    assert "input_ids[:, 1:6] == [9932, 1035, 3036, 1035, 4796]" in finding.message
    assert finding.location.nodes[0] == "gate"
    evidence = json.loads(json.dumps(finding.evidence))
    assert evidence["join_node"] == "gate" and evidence["inputs"] == ["input_ids"]
    assert evidence["payload_nodes"] == ["forced"] and evidence["outputs"] == ["output"]
    assert evidence["constraints"][0]["value"] == [9932.0, 1035.0, 3036.0, 1035.0, 4796.0]


def test_find_gates_rejects_bytes_that_are_not_onnx() -> None:
    with pytest.raises(ValueError, match="not an ONNX model"):
        find_gates(b"\xff\xff\xff\xff not a protobuf")
