"""SARIF 2.1.0 for code-scanning dashboards; rules come from the rule catalogue."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mlvet.findings import Finding, Report, Rule, Severity

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}


def render(report: Report, rules: dict[str, Rule]) -> str:
    return json.dumps(to_document(report, rules), indent=2, default=str) + "\n"


def to_document(report: Report, rules: dict[str, Rule]) -> dict[str, Any]:
    catalogue = dict(rules)
    for finding in report.findings:
        catalogue.setdefault(finding.rule.id, finding.rule)
    ordered = sorted(catalogue.values(), key=lambda r: r.order)
    index = {rule.id: i for i, rule in enumerate(ordered)}
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "mlvet",
                        "version": report.tool_version,
                        "semanticVersion": report.tool_version,
                        "rules": [_rule(rule) for rule in ordered],
                    }
                },
                "invocations": [_invocation(report)],
                "results": [_result(f, index[f.rule.id]) for f in report.findings],
            }
        ],
    }


def _rule(rule: Rule) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": rule.id,
        "name": "".join(word.capitalize() for word in rule.title.replace("-", " ").split()),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.description},
        "help": {"text": rule.description, "markdown": _help_markdown(rule)},
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
        "properties": {
            "security-severity": _SECURITY_SEVERITY[rule.severity],
            "tags": ["security", "supply-chain"],
        },
    }
    return entry


def _help_markdown(rule: Rule) -> str:
    refs = "".join(f"\n- {ref}" for ref in rule.references)
    return f"**{rule.title}** ({rule.severity})\n\n{rule.description}" + (
        f"\n\nReferences:{refs}" if refs else ""
    )


def _result(finding: Finding, rule_index: int) -> dict[str, Any]:
    location = finding.location
    physical: dict[str, Any] = {"artifactLocation": {"uri": Path(finding.subject.path).as_posix()}}
    region: dict[str, Any] = {}
    if location.line is not None and not finding.subject.member:
        region["startLine"] = location.line
    elif location.offset is not None and not finding.subject.member:
        region["byteOffset"] = location.offset
    if region:
        physical["region"] = region
    result: dict[str, Any] = {
        "ruleId": finding.rule.id,
        "ruleIndex": rule_index,
        "level": _LEVEL[finding.severity],
        "message": {"text": finding.message},
        "locations": [{"physicalLocation": physical}],
        "partialFingerprints": {"mlvet/v1": _fingerprint(finding)},
        "properties": {
            "severity": str(finding.severity),
            "confirmed": finding.confirmed,
            "evidence": dict(finding.evidence),
        },
    }
    logical = [part for part in (finding.subject.member, location.describe() or None) if part]
    if logical:
        result["locations"][0]["logicalLocations"] = [{"fullyQualifiedName": " @ ".join(logical)}]
    return result


def _invocation(report: Report) -> dict[str, Any]:
    notifications = [
        {
            "level": "error",
            "message": {"text": f"{p.subject.display}: {p.kind.value}: {p.message}"},
            "locations": [
                {"physicalLocation": {"artifactLocation": {"uri": Path(p.subject.path).as_posix()}}}
            ],
        }
        for p in report.problems
    ]
    return {
        "executionSuccessful": not report.problems,
        "startTimeUtc": report.started.isoformat().replace("+00:00", "Z"),
        "endTimeUtc": report.finished.isoformat().replace("+00:00", "Z"),
        "toolExecutionNotifications": notifications,
    }


def _fingerprint(finding: Finding) -> str:
    key = "|".join(
        (finding.rule.id, finding.subject.path, finding.subject.member or "", finding.location.describe())
    )
    return hashlib.sha256(key.encode()).hexdigest()[:32]
