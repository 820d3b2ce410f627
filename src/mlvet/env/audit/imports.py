"""Results of pip-audit (``-f json``) and OSV-Scanner (``--format json``) read as advisories on packages."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlvet.env.audit.advisories import Advisory, Affected, SourceRanges, parse_advisory, severity_from_score
from mlvet.env.audit.versions import normalize_name, public_version
from mlvet.errors import InputError
from mlvet.findings import Severity


@dataclass(frozen=True)
class ImportedResult:
    """One package a peer tool examined, with the advisories it reported for it."""

    name: str
    version: str
    advisories: tuple[Advisory, ...]
    tool: str
    origin: str


def read_import(path: Path) -> list[ImportedResult]:
    """The results in a pip-audit or OSV-Scanner JSON report (the format is recognised from its shape)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            f"{path} is not valid JSON: {exc}",
            hint="pass 'pip-audit -f json' or 'osv-scanner --format json' output",
        ) from None
    try:
        if isinstance(document, Mapping) and isinstance(document.get("results"), list):
            return _osv_scanner(document, str(path))
        if isinstance(document, Mapping) and isinstance(document.get("dependencies"), list):
            return _pip_audit(document["dependencies"], str(path))
        if isinstance(document, list):  # pip-audit before 2.0 wrote the dependency list alone
            return _pip_audit(document, str(path))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(
            f"{path}: malformed scanner report ({exc})", hint="regenerate it with the tool's JSON format"
        ) from None
    raise InputError(
        f"{path} is neither a pip-audit nor an OSV-Scanner JSON report",
        hint="expected {'dependencies': [...]} (pip-audit -f json) or {'results': [...]} (osv-scanner)",
    )


def _pip_audit(dependencies: list[Any], origin: str) -> list[ImportedResult]:
    results: list[ImportedResult] = []
    for dependency in dependencies:
        if "skip_reason" in dependency or not dependency.get("vulns"):
            continue
        name, version = normalize_name(dependency["name"]), str(dependency["version"])
        public_version(version)
        advisories = []
        for vuln in dependency["vulns"]:
            ident = str(vuln["id"])
            fixes = tuple(str(v) for v in vuln.get("fix_versions") or [])
            source = SourceRanges(f"pip-audit ({ident})", (), frozenset({public_version(version)}), fixes)
            description = str(vuln.get("description") or "")
            advisories.append(
                Advisory(
                    id=ident,
                    aliases=tuple(str(a) for a in vuln.get("aliases") or []),
                    summary=description.split("\n", 1)[0][:160] or ident,
                    details=description,
                    severity=_pip_audit_severity(vuln),
                    kind="vulnerability",
                    affected=(Affected(name, (source,)),),
                    origins=(f"pip-audit ({origin})",),
                )
            )
        results.append(ImportedResult(name, version, tuple(advisories), "pip-audit", origin))
    return results


def _pip_audit_severity(vuln: Mapping[str, Any]) -> Severity:
    for item in vuln.get("severity") or []:  # newer pip-audit may carry OSV severity entries
        if isinstance(item, Mapping) and isinstance(item.get("score"), int | float):
            return severity_from_score(float(item["score"]))
    return Severity.MEDIUM


def _osv_scanner(document: Mapping[str, Any], origin: str) -> list[ImportedResult]:
    results: list[ImportedResult] = []
    for result in document["results"]:
        source_path = (result.get("source") or {}).get("path", origin)
        for package in result.get("packages") or []:
            info = package["package"]
            if info.get("ecosystem") != "PyPI":
                continue
            name, version = normalize_name(info["name"]), str(info["version"])
            scores = _group_scores(package.get("groups") or [])
            advisories = []
            for record in package.get("vulnerabilities") or []:
                advisory = parse_advisory(record, f"osv-scanner ({source_path})")
                score = scores.get(advisory.id)
                if score is not None and "severity" not in (record.get("database_specific") or {}):
                    advisory = _with_severity(advisory, severity_from_score(score))
                advisories.append(advisory)
            if advisories:
                results.append(
                    ImportedResult(name, version, tuple(advisories), "osv-scanner", str(source_path))
                )
    return results


def _group_scores(groups: list[Any]) -> dict[str, float]:
    scores: dict[str, float] = {}
    for group in groups:
        try:
            score = float(group.get("max_severity") or "")
        except ValueError:
            continue
        for ident in (*group.get("ids", ()), *group.get("aliases", ())):
            scores[str(ident)] = score
    return scores


def _with_severity(advisory: Advisory, severity: Severity) -> Advisory:
    return replace(advisory, severity=severity)
