"""``mlvet scan`` end to end, in-process: exit codes, messages, JSON, SARIF, suppression, settings."""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from mlvet.cli import main

# protocol 2: posix.system("true") — harmless even if it ever ran
MALICIOUS = b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."


@pytest.fixture
def evil(tmp_path: Path) -> Path:
    path = tmp_path / "model.bin"
    path.write_bytes(MALICIOUS)
    return path


def _json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_clean_input_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("hello\n")
    assert main(["scan", str(tmp_path)]) == 0
    assert "0 findings" in capsys.readouterr().out


def test_malicious_pickle_exits_1_with_rule_in_json(evil: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(evil), "--format", "json"]) == 1
    document = _json(capsys)
    findings = document["findings"]
    assert isinstance(findings, list)
    assert any(f["rule_id"] == "MLV101" and f["severity"] == "critical" for f in findings)


def test_fail_on_critical_still_fails_on_critical(evil: Path) -> None:
    assert main(["scan", str(evil), "--fail-on", "critical", "-q"]) == 1


def test_ignore_suppresses_and_counts(evil: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = {"MLV101", "MLV102", "MLV103", "MLV104"}
    code = main(["scan", str(evil), "-f", "json", "--ignore", ",".join(sorted(rules))])
    document = _json(capsys)
    assert code == 0
    assert not {f["rule_id"] for f in document["findings"]} & rules  # type: ignore[union-attr]
    assert document["summary"]["suppressed"] >= 1  # type: ignore[index]


def test_unknown_rule_in_ignore_is_a_usage_error(evil: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(evil), "--ignore", "MLV000"]) == 2
    err = capsys.readouterr().err
    assert "unknown rule MLV000" in err and "hint: 'mlvet rules' lists every rule ID" in err


def test_missing_path_exits_2_with_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(tmp_path / "nope.pt")]) == 2
    err = capsys.readouterr().err
    assert "no such file or directory" in err and "hint:" in err and "Traceback" not in err


def test_bad_severity_exits_2(evil: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(evil), "--fail-on", "severe"]) == 2
    assert "unknown severity 'severe'" in capsys.readouterr().err


def test_usage_error_is_one_line_and_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["scan", "--format", "xml", "x"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("mlvet scan: error: argument -f/--format: invalid choice: 'xml'")
    assert err[1] == "hint: run 'mlvet scan --help' for usage"


def test_unrecognised_content_is_unscanned_not_clean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blob = tmp_path / "weights.bin"
    blob.write_bytes(bytes(range(256)) * 4)
    assert main(["scan", str(blob), "-f", "json"]) == 2
    document = _json(capsys)
    assert document["problems"][0]["kind"] == "unsupported"  # type: ignore[index]
    assert main(["scan", str(blob), "--allow-unscanned", "-q"]) == 0


def test_problem_outranks_findings(evil: Path, tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(bytes(range(256)) * 4)
    assert main(["scan", str(tmp_path)]) == 2


def test_output_file_and_sarif(evil: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.sarif"
    assert main(["scan", str(evil), "-f", "sarif", "-o", str(out)]) == 1
    document = json.loads(out.read_text())
    assert document["version"] == "2.1.0"
    assert any(r["ruleId"] == "MLV101" for r in document["runs"][0]["results"])


def test_unwritable_output_exits_2(evil: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(evil), "-o", str(tmp_path / "missing-dir" / "r.json")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_settings_file_sets_fail_on_and_ignore(evil: Path, tmp_path: Path) -> None:
    config = tmp_path / "mlvet.toml"
    config.write_text('fail-on = "critical"\nignore = ["MLV101"]\n')
    assert main(["scan", str(evil), "--config", str(config)]) == 0


def test_settings_typo_is_an_error(evil: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "mlvet.toml"
    config.write_text('fail_on = "critical"\n')
    assert main(["scan", str(evil), "--config", str(config)]) == 2
    assert "unknown setting 'fail_on'" in capsys.readouterr().err


def test_console_script_is_declared() -> None:
    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts["mlvet"] == "mlvet.cli:main"
