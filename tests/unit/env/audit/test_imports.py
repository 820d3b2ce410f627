"""pip-audit and OSV-Scanner reports, written by hand in the exact shape those tools emit."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlvet.env.audit import audit_environment
from mlvet.env.audit.imports import read_import
from mlvet.errors import InputError
from mlvet.findings import Severity

PIP_AUDIT = {
    "dependencies": [
        {
            "name": "keras",
            "version": "3.7.0",
            "vulns": [
                {
                    "id": "GHSA-48g7-3x6r-xfhp",
                    "fix_versions": ["3.8.0"],
                    "aliases": ["CVE-2025-1550", "PYSEC-2025-122"],
                    "description": "The Keras Model.load_model function permits arbitrary code execution, even with "  # noqa: E501
                    "safe_mode=True, through a manually constructed, malicious .keras archive.",
                }
            ],
        },
        {
            "name": "jinja2",
            "version": "3.1.4",
            "vulns": [
                {
                    "id": "GHSA-q2x7-8rv6-6q7h",
                    "fix_versions": ["3.1.5"],
                    "aliases": ["CVE-2024-56201"],
                    "description": "Jinja has a sandbox breakout through malicious filenames",
                }
            ],
        },
        {"name": "numpy", "version": "2.4.6", "vulns": []},
        {
            "name": "mlvet",
            "skip_reason": "Dependency not found on PyPI and could not be audited: mlvet (0.1.0)",
        },
    ],
    "fixes": [],
}

TORCH_GHSA = {
    "modified": "2025-04-18T16:26:05Z",
    "published": "2025-04-18T14:24:57Z",
    "schema_version": "1.6.0",
    "id": "GHSA-53q9-r3pm-6pq6",
    "aliases": ["CVE-2025-32434"],
    "summary": "PyTorch: `torch.load` with `weights_only=True` leads to remote code execution",
    "details": "A Remote Command Execution (RCE) vulnerability exists in PyTorch when loading a model using "
    "torch.load with weights_only=True.",
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "torch", "purl": "pkg:pypi/torch"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.6.0"}]}],
            "database_specific": {
                "source": "https://github.com/github/advisory-database/blob/main/advisories/x.json"
            },
        }
    ],
    "references": [
        {"type": "WEB", "url": "https://github.com/pytorch/pytorch/security/advisories/GHSA-53q9-r3pm-6pq6"}
    ],
    "database_specific": {"cwe_ids": ["CWE-502"], "github_reviewed": True, "severity": "CRITICAL"},
}
REQUESTS_GHSA = {
    "modified": "2024-06-10T20:45:34Z",
    "published": "2024-05-20T20:15:00Z",
    "schema_version": "1.6.0",
    "id": "GHSA-9wx4-h78v-vm56",
    "aliases": ["CVE-2024-35195"],
    "summary": "Requests `Session` object does not verify requests after making first request with verify=False",  # noqa: E501
    "details": "When making requests through a Requests Session, if the first request is made with verify=False "  # noqa: E501
    "then all subsequent requests to the same host will continue to ignore cert verification.",
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "requests", "purl": "pkg:pypi/requests"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.32.0"}]}],
        }
    ],
    "database_specific": {"cwe_ids": ["CWE-670"], "github_reviewed": True, "severity": "MODERATE"},
}
OSV_SCANNER = {
    "results": [
        {
            "source": {"path": "/src/project/requirements.txt", "type": "lockfile"},
            "packages": [
                {
                    "package": {"name": "torch", "version": "2.5.1", "ecosystem": "PyPI"},
                    "vulnerabilities": [TORCH_GHSA],
                    "groups": [{"ids": ["GHSA-53q9-r3pm-6pq6"], "aliases": ["CVE-2025-32434", "GHSA-53q9-r3pm-6pq6"], "max_severity": "9.3"}],  # noqa: E501
                },
                {
                    "package": {"name": "requests", "version": "2.31.0", "ecosystem": "PyPI"},
                    "vulnerabilities": [REQUESTS_GHSA],
                    "groups": [{"ids": ["GHSA-9wx4-h78v-vm56"], "aliases": ["CVE-2024-35195", "GHSA-9wx4-h78v-vm56"], "max_severity": "5.6"}],  # noqa: E501
                },
                {
                    "package": {"name": "lodash", "version": "4.17.20", "ecosystem": "npm"},
                    "vulnerabilities": [],
                    "groups": [],
                },
            ],
        }
    ],
    "experimental_config": {"licenses": {"summary": False, "allowlist": None}},
}  # fmt: skip


def write(tmp_path: Path, name: str, document: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document, indent=2))
    return path


def test_pip_audit_json_is_read(tmp_path: Path) -> None:
    results = read_import(write(tmp_path, "pip-audit.json", PIP_AUDIT))
    assert [(r.name, r.version, r.tool) for r in results] == [
        ("keras", "3.7.0", "pip-audit"),
        ("jinja2", "3.1.4", "pip-audit"),
    ]
    (keras,) = results[0].advisories
    assert keras.id == "GHSA-48g7-3x6r-xfhp" and "CVE-2025-1550" in keras.aliases


def test_osv_scanner_json_is_read(tmp_path: Path) -> None:
    results = read_import(write(tmp_path, "osv.json", OSV_SCANNER))
    assert [(r.name, r.version) for r in results] == [("torch", "2.5.1"), ("requests", "2.31.0")]
    assert results[1].advisories[0].severity is Severity.MEDIUM
    assert results[0].advisories[0].severity is Severity.CRITICAL


def test_imported_findings_merge_with_mlvets_by_alias(make_site: Callable[..., Path], tmp_path: Path) -> None:
    site = make_site(("keras", "3.7.0"), ("torch", "2.5.1"))
    imports = [write(tmp_path, "pip-audit.json", PIP_AUDIT), write(tmp_path, "osv.json", OSV_SCANNER)]
    report = audit_environment([site], search_models=False, imports=imports, index_configs=[])
    by_advisory: dict[tuple[str, str], list[Any]] = {}
    for finding in report.findings:
        by_advisory.setdefault((finding.evidence["package"], finding.evidence["advisory"]), []).append(
            finding
        )
    assert all(len(found) == 1 for found in by_advisory.values()), by_advisory
    (keras,) = by_advisory[("keras", "PYSEC-2025-122")]
    assert (
        any("pip-audit" in s for s in keras.evidence["sources"])
        and "mlvet bundled" in keras.evidence["sources"]
    )
    assert keras.severity is Severity.HIGH and keras.evidence["hint"].startswith("upgrade to keras>=3.9.0")
    (torch,) = by_advisory[("torch", "GHSA-53q9-r3pm-6pq6")]
    assert any("osv-scanner" in s for s in torch.evidence["sources"])
    (jinja,) = by_advisory[("jinja2", "GHSA-q2x7-8rv6-6q7h")]
    assert jinja.rule.id == "MLV2101" and jinja.evidence["hint"] == "upgrade to jinja2>=3.1.5"
    assert ("requests", "GHSA-9wx4-h78v-vm56") in by_advisory
    assert len(report.details["imported"]) == 4


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"something": "else"}, "neither a pip-audit nor an OSV-Scanner"),
        ({"dependencies": [{"name": "x", "vulns": [{"id": "A"}]}]}, "malformed scanner report"),
        ({"dependencies": [{"name": "x", "version": "not a version", "vulns": [{"id": "A"}]}]}, "malformed"),
        ({"results": [{"packages": [{"package": {"name": "t", "version": "1", "ecosystem": "PyPI"},
                                     "vulnerabilities": [{"id": "X"}]}]}]}, "malformed"),
    ],
)  # fmt: skip
def test_a_bad_report_is_refused(tmp_path: Path, document: Any, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_import(write(tmp_path, "bad.json", document))


def test_an_unreadable_report_is_refused(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(InputError, match="not valid JSON"):
        read_import(tmp_path / "broken.json")
    with pytest.raises(InputError, match="cannot read"):
        read_import(tmp_path / "missing.json")
