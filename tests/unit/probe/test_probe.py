"""``probe()`` end to end on hand-built backdoored models: solve or search, run, confirm, report."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from mlvet.errors import InputError
from mlvet.findings import Finding, Report, Severity
from mlvet.graph.gates import Gate
from mlvet.probe import probe
from mlvet.probe.rules import MLV950
from tests.unit.probe import backdoored


def _save(tmp_path: Path, model: onnx.ModelProto, name: str = "model.onnx") -> Path:
    path = tmp_path / name
    onnx.save(model, path)
    return path


def _gate_finding(report: Report) -> Finding:
    (finding,) = [f for f in report.findings if f.rule.id != MLV950.id]
    return finding


def _trigger(finding: Finding) -> dict[str, Any]:
    (entry,) = finding.evidence["trigger"]
    assert isinstance(entry, dict)
    return entry


def test_where_gate_on_bytes_is_solved_to_exactly_ai_e_and_confirmed(tmp_path: Path) -> None:
    model, gate = backdoored.where_bytes()
    path = _save(tmp_path, model)
    report = probe(path, gates=[gate])
    finding = _gate_finding(report)
    assert finding.severity is Severity.CRITICAL and finding.confirmed
    assert finding.evidence["method"] == "constraints"
    trigger = _trigger(finding)
    assert trigger["positions"] == [0, 1, 2, 3] and trigger["values"] == list(b"AI_E")
    assert trigger["hex"] == "41495f45"
    saved = np.load(str(trigger["npy"]), allow_pickle=False)
    assert Path(str(trigger["npy"])).parent == tmp_path / "model.probe"
    assert saved.dtype == np.uint8 and saved[0, :4].tobytes() == b"AI_E"
    assert "bytes@[0:4] = 41 49 5F 45" in finding.message
    effect = finding.evidence["gate_held_closed_vs_open"]
    assert effect["logits"]["changed_elements"] > 0
    assert finding.location.nodes[-1] == "select"
    assert not report.problems


def test_token_trigger_is_solved_on_int64_ids(tmp_path: Path) -> None:
    model, gate = backdoored.token_where()
    finding = _gate_finding(probe(_save(tmp_path, model), gates=[gate], out_dir=tmp_path / "t"))
    assert finding.confirmed and _trigger(finding)["values"] == [17, 42]
    assert finding.evidence["clean_vs_triggered"]["logits"]["argmax_flips"] == 1


def test_image_patch_mean_threshold_is_met_inside_the_pixel_range(tmp_path: Path) -> None:
    model, gate = backdoored.image_patch_mean()
    finding = _gate_finding(probe(_save(tmp_path, model), gates=[gate]))
    trigger = _trigger(finding)
    values = np.asarray(trigger["values"])
    assert finding.confirmed and len(values) == 48
    saved = np.load(str(trigger["npy"]), allow_pickle=False)
    assert saved[0, :, :4, :4].mean() > 0.9 and saved.max() <= 1.0


def test_arithmetic_cast_mul_gate_is_confirmed(tmp_path: Path) -> None:
    model, gate = backdoored.arithmetic_mask()
    finding = _gate_finding(probe(_save(tmp_path, model), gates=[gate]))
    assert finding.confirmed and _trigger(finding)["hex"] == "dead"
    assert finding.evidence["condition"] == "g"


def test_smooth_sigmoid_without_constraints_is_found_by_search(tmp_path: Path) -> None:
    model, gate = backdoored.smooth_sigmoid()
    finding = _gate_finding(probe(_save(tmp_path, model), gates=[gate]))
    assert finding.confirmed and finding.evidence["method"] == "search"
    assert finding.evidence["solver"] == "no constraints were extracted"
    trigger = _trigger(finding)
    assert trigger["positions"] == [0, 1, 2, 3]
    assert float(np.mean(np.asarray(trigger["values"]))) > 2.5


@pytest.mark.parametrize(
    "build", [backdoored.where_bytes, backdoored.token_where, backdoored.arithmetic_mask]
)
def test_search_alone_recovers_equality_triggers(tmp_path: Path, build: object) -> None:
    model, gate = build()  # type: ignore[operator]
    blind = dataclasses.replace(gate, constraints=())
    finding = _gate_finding(probe(_save(tmp_path, model), gates=[blind], budget=500))
    assert finding.confirmed and finding.evidence["method"] == "search"
    assert finding.evidence["evaluations"] <= 500
    assert _trigger(finding)["values"] == list(gate.constraints[0].value)


def test_wrong_constraints_fall_back_to_search(tmp_path: Path) -> None:
    model, gate = backdoored.where_bytes()
    wrong = dataclasses.replace(
        gate, constraints=(dataclasses.replace(gate.constraints[0], value=tuple(b"NOPE")),)
    )
    finding = _gate_finding(probe(_save(tmp_path, model), gates=[wrong]))
    assert finding.confirmed and finding.evidence["method"] == "search"
    assert finding.evidence["solver"] == "the solved input did not open the gate"


def test_if_gate_is_solved_from_a_max_threshold(tmp_path: Path) -> None:
    model, gate = backdoored.if_branch()
    finding = _gate_finding(probe(_save(tmp_path, model), gates=[gate]))
    assert finding.confirmed and finding.evidence["condition"] == "flag"
    assert finding.rule.id == "MLV902"
    assert max(_trigger(finding)["values"]) > 100


def test_environment_gate_is_confirmed_by_repeating_one_input(tmp_path: Path) -> None:
    model, gate = backdoored.random_gate()
    finding = _gate_finding(probe(_save(tmp_path, model), gates=[gate]))
    assert finding.confirmed and finding.evidence["method"] == "repeat"
    assert finding.evidence["trigger"] == []
    assert "the same input run" in finding.message


def test_gate_never_opened_stays_high_with_the_reason(tmp_path: Path) -> None:
    model, gate = backdoored.where_bytes()
    blind = dataclasses.replace(gate, constraints=())
    finding = _gate_finding(probe(_save(tmp_path, model), gates=[blind], budget=20))
    assert finding.severity is Severity.HIGH and not finding.confirmed
    assert finding.evidence["reason"] == "gate never opened in 20 evaluations"
    assert not (tmp_path / "model.probe").exists()


def test_gate_that_opens_without_changing_outputs_is_not_confirmed(tmp_path: Path) -> None:
    model, gate = backdoored.where_bytes()
    for node in model.graph.node:
        if node.name == "select":
            node.input[1] = "normal"
    finding = _gate_finding(probe(_save(tmp_path, model), gates=[gate]))
    assert finding.severity is Severity.HIGH
    assert finding.evidence["reason"] == "opened but outputs unchanged"


def test_dormant_branch_is_reported_medium(tmp_path: Path) -> None:
    model, gate = backdoored.where_bytes()
    report = probe(_save(tmp_path, model), gates=[gate], samples=8)
    (dormant,) = [f for f in report.findings if f.rule.id == "MLV950"]
    assert dormant.severity is Severity.MEDIUM
    assert dormant.evidence["samples"] == 8 and dormant.evidence["constant_value"] == [False]
    assert "all 8 calibration inputs" in dormant.message


def test_a_condition_that_varies_on_clean_data_is_not_dormant(tmp_path: Path) -> None:
    model, gate = backdoored.image_patch_mean()
    for init in model.graph.initializer:
        if init.name == "threshold":
            init.CopyFrom(onnx.numpy_helper.from_array(np.asarray(0.5, dtype=np.float32), "threshold"))
    report = probe(_save(tmp_path, model), gates=[_without_constraints(gate)], samples=16)
    assert not [f for f in report.findings if f.rule.id == "MLV950"]


def test_user_calibration_files_drive_the_dormant_check(tmp_path: Path) -> None:
    model, gate = backdoored.where_bytes()
    folder = tmp_path / "calibration"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for index in range(3):
        np.savez(folder / f"s{index}.npz", bytes=rng.integers(0, 256, (1, 64)).astype(np.uint8))
    report = probe(_save(tmp_path, model), gates=[gate], calibration=folder)
    (dormant,) = [f for f in report.findings if f.rule.id == "MLV950"]
    assert dormant.evidence["samples"] == 3


def test_calibration_with_the_wrong_shape_is_an_input_error(tmp_path: Path) -> None:
    model, gate = backdoored.where_bytes()
    folder = tmp_path / "calibration"
    folder.mkdir()
    np.save(folder / "one.npy", np.zeros((1, 8), dtype=np.uint8))
    with pytest.raises(InputError, match="has shape \\[1, 8\\], expected \\[1, 64\\]"):
        probe(_save(tmp_path, model), gates=[gate], calibration=folder)


def test_benign_model_has_no_findings(tmp_path: Path) -> None:
    report = probe(_save(tmp_path, backdoored.benign()), gates=[])
    assert not report.findings and not report.problems
    assert report.subjects[0].format == "onnx"


def test_custom_domain_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"custom operator domain\(s\) com\.example\.custom"):
        probe(_save(tmp_path, backdoored.custom_domain()), gates=[])


def test_gate_whose_condition_is_not_in_the_graph_is_a_problem(tmp_path: Path) -> None:
    model, gate = backdoored.where_bytes()
    ghost = dataclasses.replace(gate, join_node="nowhere", trigger_nodes=("nothing",))
    report = probe(_save(tmp_path, model), gates=[ghost])
    finding = _gate_finding(report)
    assert finding.severity is Severity.HIGH and "cannot be watched" in finding.evidence["reason"]
    assert report.problems and "gate nowhere" in report.problems[0].message


def _without_constraints(gate: Gate) -> Gate:
    return dataclasses.replace(gate, constraints=())


def test_external_tensor_data_next_to_the_model_is_loaded(tmp_path: Path) -> None:
    model, gate = backdoored.where_bytes()
    path = tmp_path / "external.onnx"
    onnx.save(model, path, save_as_external_data=True, location="weights.bin", size_threshold=0)
    assert (tmp_path / "weights.bin").is_file()
    assert _gate_finding(probe(path, gates=[gate])).confirmed


def test_external_tensor_data_outside_the_model_directory_is_refused(tmp_path: Path) -> None:
    model, gate = backdoored.where_bytes()
    (tmp_path / "models").mkdir()
    onnx.save(model, tmp_path / "inside.onnx", save_as_external_data=True, location="w.bin", size_threshold=0)
    moved = onnx.load(tmp_path / "inside.onnx", load_external_data=False)
    for tensor in moved.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../w.bin"
    path = tmp_path / "models" / "escape.onnx"
    onnx.save(moved, path)
    with pytest.raises(InputError, match="points outside the model directory"):
        probe(path, gates=[gate])


def test_calibration_shapes_fill_symbolic_dimensions(tmp_path: Path) -> None:
    model, gate = backdoored.token_where()
    folder = tmp_path / "calibration"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for index in range(2):
        np.save(folder / f"s{index}.npy", rng.integers(0, 100, (2, 40)))
    report = probe(_save(tmp_path, model), gates=[gate], calibration=folder)
    finding = _gate_finding(report)
    assert finding.confirmed and _trigger(finding)["shape"] == [2, 40]


def test_trigger_read_from_a_conv_feature_is_found_in_its_receptive_field(tmp_path: Path) -> None:
    model, gate = backdoored.conv_feature()
    finding = _gate_finding(probe(_save(tmp_path, model), gates=[gate]))
    assert finding.confirmed and finding.evidence["method"] == "search"
    trigger = _trigger(finding)
    shape = tuple(trigger["shape"])
    _, _, rows, columns = np.unravel_index(np.asarray(trigger["positions"]), shape)
    assert set(rows.tolist()) == {4, 5, 6} and set(columns.tolist()) == {4, 5, 6}
