"""``mlvet diff`` end to end, in-process: exit codes, messages, table, JSON, SARIF and HTML output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlvet.cli import main
from mlvet.redteam import Level
from tests.unit.diff.builders import (
    backdoored_byte_mlp,
    fine_tuned,
    hf_directory,
    save_onnx,
    save_safetensors,
    save_torch,
    weights,
)


@pytest.fixture
def onnx_pair(tmp_path: Path) -> tuple[Path, Path]:
    clean, bad = backdoored_byte_mlp(Level.L1)
    return save_onnx(tmp_path / "good.onnx", clean), save_onnx(tmp_path / "candidate.onnx", bad)


@pytest.fixture
def torch_pair(tmp_path: Path) -> tuple[Path, Path]:
    original = weights()
    return save_torch(tmp_path / "good.pt", original), save_torch(
        tmp_path / "tuned.pt", fine_tuned(original, 0.01)
    )


def test_backdoored_onnx_exits_1_and_json_names_the_gate_nodes(
    onnx_pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = onnx_pair
    assert main(["diff", str(good), str(bad), "-f", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    gate = next(f for f in document["findings"] if f["rule_id"] == "MLV4001")
    assert gate["severity"] == "high"
    assert gate["evidence"]["join_node"] == "/gate/Mul"
    assert "/gate/Equal" in gate["evidence"]["trigger_nodes"]
    topology = document["details"]["topology"]["candidate.onnx"]
    assert topology["matched"] == 4 and topology["removed"] == []


def test_backdoored_onnx_table_leads_with_the_gate(
    onnx_pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = onnx_pair
    assert main(["diff", str(good), str(bad), "-q"]) == 1
    out = capsys.readouterr().out
    assert "4 of 4 nodes matched by structure" in out
    first_finding = next(line for line in out.splitlines() if "MLV4" in line)
    assert "MLV4001" in first_finding and "HIGH" in first_finding


def test_benign_fine_tune_exits_0(torch_pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    good, tuned = torch_pair
    assert main(["diff", str(good), str(tuned)]) == 0
    out = capsys.readouterr().out
    assert "MLV4006" in out and "12 changed (12 beyond rel. L2 0.001)" in out


def test_fail_on_low_turns_a_fine_tune_into_exit_1(torch_pair: tuple[Path, Path]) -> None:
    good, tuned = torch_pair
    assert main(["diff", str(good), str(tuned), "--fail-on", "low"]) == 1
    assert main(["diff", str(good), str(tuned), "--fail-on", "low", "--tolerance", "0.5"]) == 0


def test_safetensors_pair_sarif(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    original = weights()
    good = save_safetensors(tmp_path / "a.safetensors", dict(original))
    tuned = save_safetensors(tmp_path / "b.safetensors", dict(fine_tuned(original, 0.05)))
    assert main(["diff", str(good), str(tuned), "-f", "sarif"]) == 0
    sarif = json.loads(capsys.readouterr().out)
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["MLV4006"]


def test_hf_directory_html_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = hf_directory(tmp_path / "good", candidate=False)
    bad = hf_directory(tmp_path / "bad", candidate=True)
    report = tmp_path / "report.html"
    assert main(["diff", str(good), str(bad), "-f", "html", "-o", str(report)]) == 1
    assert capsys.readouterr().out == ""
    html = report.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "MLV4009" in html and "<script" not in html


def test_mismatched_formats_exit_2_with_a_hint(
    onnx_pair: tuple[Path, Path], torch_pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diff", str(onnx_pair[0]), str(torch_pair[1])]) == 2
    err = capsys.readouterr().err
    assert "mismatched formats: the known-good is an ONNX model, the candidate is a PyTorch checkpoint" in err
    assert "hint: diff two files of the same format" in err


def test_directory_against_file_exits_2(
    tmp_path: Path, torch_pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = hf_directory(tmp_path / "dir", candidate=False)
    assert main(["diff", str(folder), str(torch_pair[0])]) == 2
    assert "the known-good is a Hugging Face directory" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x00 not a model \x01\x02" * 8, "is not a model format mlvet diff reads"),
        (b"PK\x05\x06" + bytes(18), "cannot be read as pytorch"),
    ],
)
def test_unreadable_candidate_exits_2(
    torch_pair: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes,
    message: str,
) -> None:
    bad = tmp_path / "broken.pt"
    bad.write_bytes(content)
    assert main(["diff", str(torch_pair[0]), str(bad)]) == 2
    assert message in capsys.readouterr().err


def test_missing_candidate_exits_2(torch_pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", str(torch_pair[0]), "/nonexistent/model.pt"]) == 2
    assert "candidate /nonexistent/model.pt does not exist" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--fail-on", "severe"], "unknown severity"),
        (["--tolerance", "-1"], "must be finite and not negative"),
    ],
)
def test_bad_options_exit_2(
    torch_pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    assert main(["diff", str(torch_pair[0]), str(torch_pair[1]), *flags]) == 2
    assert message in capsys.readouterr().err


def test_corrupt_shard_in_a_directory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = hf_directory(tmp_path / "good", candidate=False)
    bad = hf_directory(tmp_path / "bad", candidate=False)
    (bad / "model.safetensors").write_bytes((bad / "model.safetensors").read_bytes()[:-64])
    assert main(["diff", str(good), str(bad)]) == 2
    assert (
        "not compared: candidate model.safetensors: cannot be read as safetensors" in capsys.readouterr().out
    )


def test_json_output_follows_the_report_schema(
    onnx_pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    import jsonschema

    schema = json.loads(
        (Path(__file__).parents[2] / "docs/schema/report-v1.json").read_text(encoding="utf-8")
    )
    assert main(["diff", str(onnx_pair[0]), str(onnx_pair[1]), "-f", "json"]) == 1
    jsonschema.validate(json.loads(capsys.readouterr().out), schema)


def test_truncated_gguf_exits_2_with_the_parser_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.unit.diff.builders import save_gguf

    good = save_gguf(tmp_path / "a.gguf", weights(layers=1))
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(good.read_bytes()[:300])
    assert main(["diff", str(good), str(cut)]) == 2
    assert "cannot be read as gguf: GGUF header unreadable" in capsys.readouterr().err
