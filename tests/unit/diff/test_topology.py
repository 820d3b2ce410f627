"""``compare_topology``: structural matching that names cannot fool."""

from __future__ import annotations

import onnx
import pytest
from onnx import TensorProto, helper

from mlvet.diff.topology import compare_topology
from mlvet.redteam import GateOp, Level, Payload, Trigger, inject
from tests.unit.diff.builders import backdoored_byte_mlp, qdq_model
from tests.unit.redteam.base_models import byte_mlp, tiny_cnn, token_classifier


def _shuffled_names(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy whose node names are rotated among the nodes: a name-based diff sees every node change."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    names = [node.name for node in copy.graph.node]
    for node, name in zip(copy.graph.node, names[1:] + names[:1], strict=True):
        node.name = name
    return copy


def test_identical_graphs_are_unchanged() -> None:
    model = byte_mlp()
    changes = compare_topology(model, model)
    assert changes.unchanged
    assert len(changes.pairs) == 4
    assert changes.matching["backward"] == 4


def test_renamed_nodes_of_the_same_graph_are_still_unchanged() -> None:
    model = token_classifier()
    changes = compare_topology(model, _shuffled_names(model))
    assert changes.unchanged, changes.to_dict()


@pytest.mark.parametrize("level", list(Level))
def test_every_injection_level_is_a_new_gate_with_its_nodes(level: Level) -> None:
    clean, bad = backdoored_byte_mlp(level)
    changes = compare_topology(clean, bad)
    assert len(changes.new_gates) == 1
    gate = changes.new_gates[0]
    added = {node.name for node in changes.added}
    rewired = {r.node.name for r in changes.rewired}
    assert gate.join_node in added | rewired  # L3 folds the payload into the existing Gemm's bias
    assert set(gate.trigger_nodes) <= added
    assert not changes.removed
    assert changes.known_good_gates == 0


def test_output_rewired_through_a_side_path_from_the_input() -> None:
    clean, bad = backdoored_byte_mlp(Level.L0)
    changes = compare_topology(clean, bad)
    (output,) = changes.outputs
    assert output.name == "logits"
    assert output.before is not None and output.before.name == "/fc2/Gemm"
    assert output.after is not None and output.after.op_type == "Where"
    assert output.from_inputs == ("bytes",)


def test_disguised_level_rewires_a_late_node_and_is_still_found() -> None:
    clean = token_classifier()
    bad = inject(clean, trigger=Trigger.of_tokens([5, 6, 7]), payload=Payload.force_class(2), level=Level.L3)
    changes = compare_topology(clean, bad)
    late = [r for r in changes.rewired if r.late]
    assert late and late[0].known_good.op_type == "Add"
    assert late[0].before.startswith("constant 'classifier.bias'")
    assert changes.new_gates


def test_injection_that_takes_over_the_original_node_names_is_matched_structurally() -> None:
    """Give the injected nodes the names of the original ones (and vice versa): nothing changes."""
    clean, bad = backdoored_byte_mlp(Level.L1)
    original = [node.name for node in clean.graph.node]
    injected = [node for node in bad.graph.node if node.name not in original]
    originals = [node for node in bad.graph.node if node.name in original]
    for index, node in enumerate(injected):
        node.name = original[index % len(original)]
    for index, node in enumerate(originals):
        node.name = f"/gate/Reused_{index}"
    changes = compare_topology(clean, bad)
    assert len(changes.pairs) == 4
    assert {pair[1].op_type for pair in changes.pairs} == {"Cast", "Gemm", "Relu"}
    assert len(changes.added) == len(injected)
    assert len(changes.new_gates) == 1
    assert changes.new_gates[0].join_node in original  # the gate now carries an original node name


def test_if_gate_is_new_control_flow() -> None:
    clean = byte_mlp()
    bad = inject(
        clean,
        trigger=Trigger.of_bytes(b"AI_E"),
        payload=Payload.force_class(1),
        level=Level.L0,
        gate=GateOp.IF,
    )
    changes = compare_topology(clean, bad)
    assert [node.op_type for node in changes.new_control_flow] == ["If"]


def test_image_model_exported_by_torch() -> None:
    clean = tiny_cnn()
    bad = inject(clean, trigger=Trigger.of_image_patch(), payload=Payload.force_class(3), level=Level.L2)
    changes = compare_topology(clean, bad)
    assert len(changes.pairs) == len(clean.graph.node)
    assert changes.new_gates


def test_quantization_parameter_change_is_reported_per_node() -> None:
    changes = compare_topology(qdq_model(0.05, 0), qdq_model(0.5, 3))
    parameters = {(q.node.op_type, q.parameter) for q in changes.quantization}
    assert parameters == {
        ("QuantizeLinear", "y_scale"),
        ("QuantizeLinear", "y_zero_point"),
        ("DequantizeLinear", "x_scale"),
        ("DequantizeLinear", "x_zero_point"),
    }
    scale = next(q for q in changes.quantization if q.parameter == "y_scale")
    assert scale.max_abs_delta == pytest.approx(0.45)
    assert not changes.added and not changes.removed


def test_new_graph_input_is_reported_by_position() -> None:
    clean = byte_mlp()
    bad = onnx.ModelProto()
    bad.CopyFrom(clean)
    bad.graph.input.append(helper.make_tensor_value_info("clock", TensorProto.INT64, [1]))
    changes = compare_topology(clean, bad)
    (change,) = changes.inputs
    assert (change.change, change.position, change.name, change.after) == ("added", 1, "clock", "int64[1]")


def test_removed_node_and_to_dict_is_json_ready() -> None:
    import json

    clean = byte_mlp()
    pruned = onnx.ModelProto()
    pruned.CopyFrom(clean)
    relu = pruned.graph.node[2]
    pruned.graph.node[3].input[0] = relu.input[0]
    pruned.graph.node.remove(relu)
    changes = compare_topology(clean, pruned)
    assert [node.op_type for node in changes.removed] == ["Relu"]
    assert any(r.known_good.op_type == "Gemm" and r.slot == 0 for r in changes.rewired)
    json.dumps(changes.to_dict())


def test_node_reading_another_same_shaped_initializer_is_rewired() -> None:
    """Swap which bias two nodes read: no tensor changes by name, but both reads are rewired."""
    clean = byte_mlp()
    swapped = onnx.ModelProto()
    swapped.CopyFrom(clean)
    extra = onnx.numpy_helper.from_array(
        onnx.numpy_helper.to_array(clean.graph.initializer[3]) * 0, "fc2.bias_b"
    )
    swapped.graph.initializer.append(extra)
    swapped.graph.node[3].input[2] = "fc2.bias_b"
    changes = compare_topology(clean, swapped)
    (rewiring,) = changes.rewired
    assert (rewiring.known_good.name, rewiring.slot, rewiring.late) == ("/fc2/Gemm", 2, True)
    assert "fc2.bias_b" in rewiring.after
