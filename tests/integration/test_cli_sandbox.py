"""``mlvet sandbox run``, ``mlvet doctor`` and ``mlvet scan --dynamic`` end to end, in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlvet.cli import main
from mlvet.sandbox import probe
from mlvet.sandbox.ladder import choose
from tests.unit.sandbox import payloads

pytestmark = pytest.mark.spawns_processes


def _payload(tmp_path: Path, data: bytes, name: str = "model.pkl") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_run_prints_what_the_file_tried_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _payload(tmp_path, payloads.shell("echo pwned > /tmp/mlvet-cli-test"))
    assert main(["sandbox", "run", str(model)]) == 1
    out = capsys.readouterr().out
    assert f"isolation: {choose(probe()).value}" in out
    assert "MLV3001  tried to start a process: os.system('echo pwned > /tmp/mlvet-cli-test')" in out
    assert "confirmed calls posix.system" in out
    assert "verdict:  MALICIOUS BEHAVIOUR (worst: critical; exit 1)" in out
    assert not Path("/tmp/mlvet-cli-test").exists()


def test_run_json_carries_layers_events_and_outcome(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _payload(tmp_path, payloads.tcp_connect(9))
    assert main(["sandbox", "run", str(model), "-f", "json", "--isolation", "seccomp-landlock"]) == 1
    document = json.loads(capsys.readouterr().out)
    details = document["details"]
    assert details["isolation"] == "seccomp-landlock"
    active = {layer["layer"] for layer in details["layers"] if layer["active"]}
    assert "network namespace" not in active and "Landlock" in active
    assert details["outcome"]["ended"] is True
    assert any(e["e"] == "socket.__new__" for e in details["events"])
    assert "MLV3002" in {f["rule_id"] for f in document["findings"]}


def test_benign_file_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    path = tmp_path / "weights.npy"
    np.save(path, np.arange(6, dtype=np.float32))
    assert main(["sandbox", "run", str(path), "--loader", "numpy"]) == 0
    out = capsys.readouterr().out
    assert "tried:    nothing of interest" in out
    assert "numpy.ndarray" in out


def test_keep_output_copies_what_the_runner_wrote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = _payload(tmp_path, payloads.write_file("dropped.txt"))
    kept = tmp_path / "kept"
    assert main(["sandbox", "run", str(model), "--keep-output", str(kept), "--no-static"]) == 1
    assert (kept / "out" / "dropped.txt").is_file()
    assert "MLV3003" in capsys.readouterr().out


def test_refusal_when_no_rung_can_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLVET_SANDBOX_DISABLE", "bwrap,userns,seccomp,landlock")
    model = _payload(tmp_path, payloads.shell("true"))
    assert main(["sandbox", "run", str(model)]) == 2
    err = capsys.readouterr().err
    assert "refusing to detonate: no isolation rung can run here" in err
    assert "hint: run 'mlvet doctor'" in err


def test_forcing_a_missing_rung_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLVET_BWRAP", "/nonexistent")
    model = _payload(tmp_path, payloads.shell("true"))
    assert main(["sandbox", "run", str(model), "--isolation", "bwrap"]) == 2
    assert (
        "--isolation bwrap needs bubblewrap (/nonexistent: not an executable file)" in capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sandbox"], "missing action"),
        (["sandbox", "run", "/nonexistent/model.pkl"], "/nonexistent/model.pkl: no such file"),
        (["sandbox", "run", "{dir}"], "not a file"),
        (["sandbox", "run", "{text}"], "no loader for text content"),
        (["sandbox", "run", "{text}", "--timeout", "0"], "--timeout must be positive"),
        (["sandbox", "run", "{text}", "--fail-on", "severe"], "--fail-on: unknown severity 'severe'"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("plain words\n")
    argv = [a.format(dir=tmp_path, text=text) for a in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_unknown_loader_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["sandbox", "run", str(tmp_path), "--loader", "tensorflow"])
    assert exit_.value.code == 2
    assert "invalid choice: 'tensorflow'" in capsys.readouterr().err


def test_loader_refusing_a_clean_file_is_undecided(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = _payload(tmp_path, b"\x80\x04\x95\x00\x00", "broken.pkl")
    assert main(["sandbox", "run", str(broken), "--loader", "pickle", "--no-static"]) == 2
    out = capsys.readouterr().out
    assert "problem:  the pickle loader refused the file: _pickle.UnpicklingError" in out
    assert "verdict:  UNDECIDED (exit 2)" in out


def test_doctor_lists_layers_and_the_rung(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    caps = probe()
    assert f"{'✓' if caps.bwrap.ok else '✗'} bubblewrap" in out
    assert f"{'✓' if caps.landlock.ok else '✗'} Landlock" in out
    assert f"'mlvet sandbox run' would use: {choose(caps).value}" in out


def test_doctor_json_and_refusal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MLVET_SANDBOX_DISABLE", "bwrap,userns,seccomp,landlock")
    assert main(["doctor", "--json"]) == 2
    document = json.loads(capsys.readouterr().out)
    assert document["sandbox_run_uses"] is None
    assert {c["name"]: c["ok"] for c in document["checks"]}["seccomp"] is False
    assert document["rungs"]["seccomp-landlock"]


def test_scan_dynamic_confirms_and_adds_behaviour(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    _payload(tmp_path, payloads.shell("true"), "evil.pkl")
    np.save(tmp_path / "fine.npy", np.zeros(3))
    assert main(["scan", str(tmp_path), "--dynamic", "-f", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    by_rule = {f["rule_id"]: f for f in document["findings"]}
    assert by_rule["MLV101"]["confirmed"] is True
    assert by_rule["MLV3001"]["subject"]["path"].endswith("evil.pkl")
    runs = {Path(r["path"]).name: r for r in document["details"]["dynamic"]}
    assert set(runs) == {"evil.pkl", "fine.npy"}
    assert runs["fine.npy"]["outcome"]["loaded"] is True
