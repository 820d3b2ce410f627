"""`mlvet env verify` and `mlvet env lock` end to end, in-process, on a real pip-installed virtualenv."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mlvet.cli import main
from tests.unit.env.environments import WHEEL_CACHE, Venv, pristine_venv, venv_copy
from tests.unit.env.test_verify import PAYLOAD_PTH, rewrite_record

__all__ = ["pristine_venv", "venv_copy"]  # the session fixtures these tests use


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def locked(pristine_venv: Venv, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    """A lock of the pristine environment made by the CLI from the local wheels, and its RECORD store."""
    lock, records = tmp_path / "pylock.toml", tmp_path / "records"
    code, out, _ = run(
        capsys, "env", "lock", "--python", pristine_venv.python, "--wheels", WHEEL_CACHE, "--offline",
        "--records-dir", records, "-o", lock,
    )  # fmt: skip
    assert code == 0, out
    assert f"wrote {lock}: 4 packages, 4 wheels, 4 wheel RECORDs pinned" in out
    return lock, records


def test_clean_environment_passes(pristine_venv: Venv, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "env", "verify", "--python", pristine_venv.python)
    assert code == 0
    assert "4 distributions" in out and out.rstrip().endswith("PASSED: no findings")


def test_tampering_fails_with_one_line_per_file(
    venv_copy: Callable[[], Venv], capsys: pytest.CaptureFixture[str]
) -> None:
    venv = venv_copy()
    (venv.site / "zz_init.pth").write_text(PAYLOAD_PTH)
    core = venv.site / "idna" / "core.py"
    core.write_text(core.read_text() + "# x\n")
    code, out, _ = run(capsys, "env", "verify", "--path", venv.site)
    assert code == 1
    assert "startup      critical  MLV2004  zz_init.pth  start-up .pth no distribution owns" in out
    assert (
        "modified     high      MLV2001  idna/core.py  idna 3.10: size and sha256 differ from RECORD" in out
    )
    assert "idna 3.10: modified (" in out
    assert "zz_init.pth [NO OWNER]" in out
    assert "FAILED: 2 finding(s) (1 critical, 1 high); 2 at or above high" in out


def test_json_report(venv_copy: Callable[[], Venv], capsys: pytest.CaptureFixture[str]) -> None:
    venv = venv_copy()
    (venv.site / "sitecustomize.py").write_text("pass\n")
    code, out, _ = run(capsys, "env", "verify", "--python", venv.python, "--format", "json")
    assert code == 1
    document = json.loads(out)
    assert [f["rule_id"] for f in document["findings"]] == ["MLV2005"]
    assert document["details"]["totals"]["distributions"] == 4


def test_fail_on_and_ignore(venv_copy: Callable[[], Venv], capsys: pytest.CaptureFixture[str]) -> None:
    venv = venv_copy()
    (venv.site / "six.py").unlink()
    assert run(capsys, "env", "verify", "--path", venv.site)[0] == 0  # a missing file is medium
    assert run(capsys, "env", "verify", "--path", venv.site, "--fail-on", "medium")[0] == 1
    code, out, _ = run(
        capsys, "env", "verify", "--path", venv.site, "--fail-on", "medium", "--ignore", "MLV2002"
    )
    assert code == 0 and "1 suppressed" in out


def test_lock_then_verify_catches_a_rewritten_record(
    venv_copy: Callable[[], Venv], locked: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    lock, records = locked
    venv = venv_copy()
    target = venv.site / "six.py"
    target.write_text(target.read_text() + "# backdoor\n")
    rewrite_record(venv, "six", "six.py")
    assert run(capsys, "env", "verify", "--python", venv.python)[0] == 0
    code, out, _ = run(
        capsys, "env", "verify", "--python", venv.python, "--lock", lock, "--records-dir", records
    )
    assert code == 1
    assert "not-vetted   critical  MLV2011" in out
    assert "RECORD vs vetted wheel: 1 differs, 3 match" in out


def test_verify_with_lock_but_no_vetted_records_is_undecided(
    pristine_venv: Venv, locked: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock, _ = locked
    empty = tmp_path / "empty"
    code, out, _ = run(
        capsys, "env", "verify", "--python", pristine_venv.python, "--lock", lock, "--records-dir", empty
    )
    assert code == 2
    assert "UNDECIDED" in out and "vetted RECORD" in out
    code, out, _ = run(
        capsys, "env", "verify", "--python", pristine_venv.python, "--lock", lock, "--records-dir", empty,
        "--wheels", WHEEL_CACHE,
    )  # fmt: skip
    assert code == 0, out


def test_lock_to_stdout(pristine_venv: Venv, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "env", "lock", "--path", pristine_venv.site, "--wheels", WHEEL_CACHE, "--offline",
        "--records-dir", tmp_path / "r", "-o", "-",
    )  # fmt: skip
    assert code == 0
    assert out.startswith('lock-version = "1.0"') and "wrote -" in err


def test_lock_without_wheels_offline_is_incomplete(
    pristine_venv: Venv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = tmp_path / "pylock.toml"
    code, out, _ = run(capsys, "env", "lock", "--path", pristine_venv.site, "--offline", "-o", lock)
    assert code == 2
    assert "not locked: six: six 1.17.0: no wheel with the installed tags (py2-none-any, py3-none-any)" in out
    assert lock.is_file()
    assert (
        run(
            capsys, "env", "lock", "--path", pristine_venv.site, "--offline", "-o", lock, "--allow-incomplete"
        )[0]
        == 0
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["env", "verify", "--path", "/nonexistent/site-packages"], "is not a directory"),
        (["env", "verify", "--python", "/nonexistent/bin/python"], "does not exist"),
        (["env", "verify", "--fail-on", "severe"], "--fail-on: unknown severity 'severe'"),
        (["env", "verify", "--ignore", "MLV9999"], "--ignore: unknown rule MLV9999"),
        (["env", "verify", "--workers", "0"], "--workers must be at least 1"),
        (["env", "verify", "--lock", "/nonexistent/pylock.toml"], "cannot read lock"),
        (["env", "lock", "-r", "req.txt", "--path", "."], "cannot be combined with --python/--path"),
        (["env", "lock", "--wheels", "/nonexistent"], "--wheels /nonexistent is not a directory"),
        (["env"], "'mlvet env' needs an action"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and "hint:" in err


def test_site_packages_without_distributions_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "env", "verify", "--path", tmp_path)
    assert code == 2 and "holds no *.dist-info directory" in err


def test_audit_is_an_action(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["env", "audit", "--help"])
    assert exit_info.value.code == 0
    assert "--offline" in capsys.readouterr().out
