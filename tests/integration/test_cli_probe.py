"""``mlvet probe`` end to end, in-process: exit codes, messages, JSON and SARIF output."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from mlvet.cli import main
from mlvet.graph.gates import Gate
from tests.unit.probe import backdoored


def _save(tmp_path: Path, model: onnx.ModelProto) -> Path:
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    return path


def _detect(monkeypatch: pytest.MonkeyPatch, gates: list[Gate]) -> None:
    """Stand in for detection so these tests pin the probe's behaviour, not the detector's."""
    monkeypatch.setattr("mlvet.graph.find_gates", lambda data: list(gates))


def _errors(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


def test_confirmed_gate_exits_1_with_a_critical_confirmed_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model, gate = backdoored.where_bytes()
    _detect(monkeypatch, [gate])
    out = tmp_path / "triggers"
    assert main(["probe", str(_save(tmp_path, model)), "-f", "json", "--out-dir", str(out)]) == 1
    document = json.loads(capsys.readouterr().out)
    (confirmed,) = [f for f in document["findings"] if f["confirmed"]]
    assert confirmed["severity"] == "critical"
    assert confirmed["evidence"]["trigger"][0]["hex"] == "41495f45"
    assert (out / "select.bytes.npy").is_file()
    assert {f["rule_id"] for f in document["findings"]} >= {"MLV950"}


def test_suspected_gate_that_never_opens_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model, gate = backdoored.where_bytes()
    _detect(monkeypatch, [dataclasses.replace(gate, constraints=())])
    assert main(["probe", str(_save(tmp_path, model)), "--budget", "10", "--format", "table"]) == 1
    assert "gate never opened in 10 evaluations" in capsys.readouterr().out


def test_benign_model_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _detect(monkeypatch, [])
    assert main(["probe", str(_save(tmp_path, backdoored.benign()))]) == 0
    assert "0 findings" in capsys.readouterr().out


def test_sarif_output_to_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, gate = backdoored.token_where()
    _detect(monkeypatch, [gate])
    report = tmp_path / "probe.sarif"
    assert main(["probe", str(_save(tmp_path, model)), "-f", "sarif", "-o", str(report)]) == 1
    sarif = json.loads(report.read_text())
    rule_ids = {r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} <= rule_ids


def test_missing_model_exits_2_with_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", str(tmp_path / "nope.onnx")]) == 2
    err = _errors(capsys)
    assert err[0].endswith("nope.onnx: no such file or directory") and err[1].startswith("hint:")


def test_not_onnx_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.onnx"
    path.write_text("just some text\n")
    assert main(["probe", str(path)]) == 2
    err = _errors(capsys)
    assert err[0] == f"mlvet probe: error: {path}: not an ONNX model"
    assert err[1] == "hint: mlvet probe runs ONNX models (.onnx files)"


@pytest.mark.parametrize("module", ["onnxruntime", "onnx"])
def test_missing_extra_exits_2_naming_it(
    tmp_path: Path, module: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _save(tmp_path, backdoored.benign())
    monkeypatch.setitem(sys.modules, module, None)
    assert main(["probe", str(path)]) == 2
    err = _errors(capsys)
    assert err[0] == "mlvet probe: error: mlvet probe needs mlvet[onnx]: pip install 'mlvet[onnx]'"
    assert err[1].startswith("hint:")


def test_custom_domain_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _detect(monkeypatch, [])
    assert main(["probe", str(_save(tmp_path, backdoored.custom_domain()))]) == 2
    err = _errors(capsys)
    assert "custom operator domain(s) com.example.custom" in err[0] and "never loaded" in err[0]
    assert err[1] == "hint: mlvet probe runs models with onnxruntime's standard operators only"


def test_model_onnxruntime_cannot_load_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _detect(monkeypatch, [])
    node = helper.make_node("NoSuchOperator", ["x"], ["y"], name="odd")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    assert main(["probe", str(_save(tmp_path, model))]) == 2
    err = _errors(capsys)
    assert "onnxruntime cannot load the model" in err[0] and len(err) == 2


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        (["--shape", "bytes"], "--shape: expected NAME=DIM,DIM,... but got 'bytes'"),
        (["--shape", "bytes=1,x"], "--shape: dimensions must be integers in 'bytes=1,x'"),
        (["--budget", "0"], "--samples and --budget must be at least 1"),
    ],
)
def test_bad_options_exit_2(
    tmp_path: Path, argument: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["probe", str(_save(tmp_path, backdoored.benign())), *argument]) == 2
    assert message in _errors(capsys)[0]


def test_shape_override_reaches_the_runner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _detect(monkeypatch, [])
    path = _save(tmp_path, backdoored.benign())
    assert main(["probe", str(path), "--shape", "x=4,8"]) == 0
    assert main(["probe", str(path), "--shape", "x=4,9"]) == 2
    err = _errors(capsys)
    assert "onnxruntime failed to run the model" in err[0] and "Got: 9 Expected: 8" in err[0]
    assert (
        err[1]
        == "hint: check --shape and --calibration against the model's inputs: x tensor(float)['batch', 8]"
    )
