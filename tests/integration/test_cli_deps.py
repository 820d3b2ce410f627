"""``mlvet deps check`` end to end, in-process: exit codes, findings per line, JSON, SARIF, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlvet.cli import main

SHA = "sha256:" + "0f" * 32


@pytest.fixture(autouse=True)
def no_machine_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine's pip.conf and PIP_* variables stay out of the results unless a test puts them in."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    for variable in ("XDG_CONFIG_HOME", "XDG_CONFIG_DIRS", "XDG_DATA_HOME"):
        monkeypatch.setenv(variable, str(home / variable.lower()))
    monkeypatch.setenv("PIP_CONFIG_FILE", str(home / "none.conf"))
    for variable in (
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "PIP_FIND_LINKS",
        "UV_INDEX_STRATEGY",
        "UV_INDEX",
    ):
        monkeypatch.delenv(variable, raising=False)


def check(*args: str) -> int:
    return main(["deps", "check", *args])


def findings(capsys: pytest.CaptureFixture[str]) -> dict[tuple[str, int | None], set[str]]:
    document = json.loads(capsys.readouterr().out)
    result: dict[tuple[str, int | None], set[str]] = {}
    for finding in document["findings"]:
        key = (finding["evidence"].get("package", ""), finding["location"].get("line"))
        result.setdefault(key, set()).add(finding["rule_id"])
    return result


def test_a_hashed_single_index_lock_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"torch==2.13.0 --hash={SHA}\nnumpy==2.4.6 --hash={SHA}\n")
    assert check(str(requirements)) == 0
    assert "advisories: 0 findings." in capsys.readouterr().out


def test_the_torchtriton_setup_is_caught_line_by_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "--extra-index-url https://download.pytorch.org/whl/nightly/cpu\n"
        "torch\n"
        "torchtriton\n"
        "torchvisions==0.1.0\n"
        "tensorflow-cu121==2.16.1\n"
        "ultralytics==8.3.46\n"
    )
    assert check(str(requirements), "-f", "json") == 1
    found = findings(capsys)
    assert found[("torch", 2)] == {"MLV2201", "MLV2204"}
    assert found[("torchtriton", 3)] == {"MLV2102", "MLV2201", "MLV2204"}
    assert "MLV2102" in found[("torchvisions", 4)]  # a known-malicious name
    assert "MLV2203" in found[("tensorflow-cu121", 5)]  # a look-alike no database knows yet
    assert "MLV2102" in found[("ultralytics", 6)]
    assert found[("", 1)] == {"MLV2202"}


def test_machine_settings_count_unless_isolated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("acme-internal-tools==1.0\n")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "https://pkgs.acme.example/simple")
    assert check(str(requirements), "-f", "json") == 1
    assert "MLV2201" in findings(capsys)[("acme-internal-tools", 1)]
    assert check(str(requirements), "--isolated", "-f", "json") == 0
    assert findings(capsys) == {("acme-internal-tools", 1): {"MLV2205"}}


def test_a_project_directory_with_pyproject_and_uv_lock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "app"\ndependencies = ["torch>=2.6", "acme-features"]\n\n'
        '[tool.uv]\nindex-strategy = "unsafe-best-match"\n\n'
        '[[tool.uv.index]]\nname = "acme"\nurl = "https://pkgs.acme.example/simple"\n'
    )
    (tmp_path / "uv.lock").write_text(
        'version = 1\nrevision = 3\n\n[[package]]\nname = "keras"\nversion = "3.11.2"\n'
        'source = { registry = "https://pypi.org/simple" }\n'
        f'sdist = {{ url = "https://files.example/keras-3.11.2.tar.gz", hash = "{SHA}", size = 1 }}\n'
    )
    assert check(str(tmp_path), "-f", "json") == 1
    found = findings(capsys)
    assert "MLV2201" in found[("acme-features", None)]
    assert "MLV2204" not in found.get(("torch", None), set())  # library ranges are not pin findings
    assert "MLV2101" in found[("keras", None)]  # CVE-2025-49655 in the locked version


def test_sarif_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("llama-cpp-python==0.2.71\n")
    assert check(str(requirements), "-f", "sarif") == 1
    results = json.loads(capsys.readouterr().out)["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"MLV2101", "MLV2205"}


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (None, ["{dir}/missing.txt"], "does not exist"),
        (None, ["{dir}"], "holds no requirements"),
        ("requirements.txt", ["{file}", "--db", "{dir}/nodb.json"], "cannot read advisory database"),
        (
            "requirements.txt",
            ["{file}", "--offline", "--db", "https://example.org/db.json"],
            "--offline forbids",
        ),
        (
            "requirements.txt",
            ["{file}", "--db", "gopher://example.org/db.json"],
            "unsupported advisory database URL",
        ),
        ("pyproject.toml", ["{file}"], "not valid TOML"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str | None, args: list[str], message: str
) -> None:
    file = tmp_path / (setup or "unused")
    if setup == "pyproject.toml":
        file.write_text("[project\n")
    elif setup:
        file.write_text("torch==2.6.0\n")
    assert check(*[a.format(dir=tmp_path, file=file) for a in args]) == 2
    assert message in capsys.readouterr().err


def test_an_unparsable_line_is_reported_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"torch==2.6.0 --hash={SHA}\nnot a requirement at all!\n")
    assert check(str(requirements)) == 2
    assert "line 2: not a requirement" in capsys.readouterr().out


def test_an_unreadable_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_bytes(b"torch==2.6.0\n\xff\xfe")
    assert check(str(requirements)) == 2
    assert "not UTF-8" in capsys.readouterr().err


def test_deps_without_an_action_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deps"]) == 2
    assert "name an action" in capsys.readouterr().err


def test_json_output_follows_the_report_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((Path(__file__).parents[2] / "docs" / "schema" / "report-v1.json").read_text())
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "--extra-index-url https://pkgs.acme.example/simple\ntorch==2.5.1\ntorchvisions\n"
    )
    assert check(str(requirements), "-f", "json") == 1
    jsonschema.validate(json.loads(capsys.readouterr().out), schema)
