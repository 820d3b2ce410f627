"""``mlvet env audit`` in-process: exit codes, human table, JSON, SARIF, and every bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mlvet.cli import main


def audit(*args: str) -> int:
    return main(["env", "audit", *args])


@pytest.mark.usefixtures("isolated_config")
def test_a_clean_environment_passes(
    make_site: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    site = make_site(("torch", "2.13.0+cpu"), ("keras", "3.15.1"))
    assert audit("--path", str(site), "--no-model-search") == 0
    out = capsys.readouterr().out
    assert "Checked 2 distributions against" in out and "0 findings" in out


@pytest.mark.usefixtures("isolated_config")
def test_old_torch_beside_a_checkpoint_fails_with_the_cve_and_the_fix(
    make_site: Callable[..., Path], torch_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = make_site(("torch", "2.5.1+cpu"))
    assert audit("--path", str(site), "--models", str(torch_checkpoint)) == 1
    out = capsys.readouterr().out
    assert "MLV2103" in out and "CVE-2025-32434" in out and "upgrade to torch>=2.6.0" in out
    assert audit("--path", str(site), "--models", str(torch_checkpoint), "-f", "json") == 1
    document = json.loads(capsys.readouterr().out)
    escalated = {f["evidence"]["advisory"]: f for f in document["findings"] if f["rule_id"] == "MLV2103"}
    assert set(escalated) == {"GHSA-53q9-r3pm-6pq6", "GHSA-63cw-57p8-fm3p"}
    assert all(f["severity"] == "critical" for f in escalated.values())
    assert escalated["GHSA-53q9-r3pm-6pq6"]["evidence"]["aliases"] == ["CVE-2025-32434"]
    assert document["details"]["models"]["model_files"] == {"pytorch": 1}


@pytest.mark.usefixtures("isolated_config")
def test_ignoring_advisories_by_alias_and_raising_the_threshold(
    make_site: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    site = make_site(("torch", "2.5.1+cpu"))
    assert (
        audit("--path", str(site), "--no-model-search", "--ignore", "CVE-2025-32434", "--fail-on", "critical")
        == 0
    )
    out = capsys.readouterr().out
    assert "GHSA-53q9" not in out and "suppressed" in out
    assert audit("--path", str(site), "--no-model-search", "--ignore", "MLV2101") == 0


@pytest.mark.usefixtures("isolated_config")
def test_a_compromised_release_fails_and_sarif_names_the_rule(
    make_site: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    site = make_site(("ultralytics", "8.3.41"))
    assert audit("--path", str(site), "--no-model-search", "-f", "sarif") == 1
    sarif = json.loads(capsys.readouterr().out)
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["MLV2102"]


@pytest.mark.usefixtures("isolated_config")
def test_an_extra_database_and_an_update(
    make_site: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = {
        "schema_version": "1.7.0",
        "id": "GHSA-test-test-test",
        "modified": "2026-01-01T00:00:00Z",
        "summary": "internal advisory",
        "database_specific": {"severity": "HIGH"},
        "affected": [{"package": {"ecosystem": "PyPI", "name": "acme-ml"}, "versions": ["1.0.0"]}],
    }
    database = tmp_path / "extra.json"
    database.write_text(json.dumps([record]))
    site = make_site(("acme-ml", "1.0.0"))
    assert audit("--path", str(site), "--no-model-search", "--db", str(database), "-f", "json") == 1
    assert json.loads(capsys.readouterr().out)["findings"][0]["evidence"]["advisory"] == "GHSA-test-test-test"
    assert audit("--path", str(site), "--no-model-search", "--update-db", str(database)) == 1
    assert "stored 1 advisories" in capsys.readouterr().err
    assert audit("--path", str(site), "--no-model-search") == 1  # the updated copy is used from now on


@pytest.mark.usefixtures("isolated_config")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--db", "{corrupt}"], "not valid JSON"),
        (["--offline", "--db", "https://example.org/osv.json"], "--offline forbids"),
        (["--db", "ftp://example.org/osv.json"], "unsupported advisory database URL"),
        (["--db", "http://127.0.0.1:9/osv.json"], "cannot fetch"),
        (["--import", "{missing}"], "cannot read"),
        (["--fail-on", "severe"], "unknown severity"),
        (["--path", "{nowhere}"], "is not a directory"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    make_site: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text("{ not json")
    site = make_site(("torch", "2.13.0"))
    filled = [
        a.format(corrupt=corrupt, missing=tmp_path / "missing.json", nowhere=tmp_path / "nowhere")
        for a in args
    ]
    base = [] if "--path" in filled else ["--path", str(site)]
    assert audit(*base, "--no-model-search", *filled) == 2
    assert message in capsys.readouterr().err
