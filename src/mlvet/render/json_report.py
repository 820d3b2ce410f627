"""The JSON report: a stable, versioned shape documented in ``docs/schema/report-v1.json``."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from typing import Any

from mlvet.findings import Finding, Location, Problem, Report, Severity, Subject

SCHEMA_ID = "https://mlvet.dev/schema/report-v1.json"


def render(report: Report) -> str:
    return json.dumps(to_document(report), indent=2, sort_keys=False, default=_fallback) + "\n"


def to_document(report: Report) -> dict[str, Any]:
    """The report as plain JSON-compatible data."""
    counts = Counter(str(f.severity) for f in report.findings)
    return {
        "$schema": SCHEMA_ID,
        "schema_version": 1,
        "tool": {"name": "mlvet", "version": report.tool_version},
        "started": report.started.isoformat(),
        "finished": report.finished.isoformat(),
        "summary": {
            "subjects": len(report.subjects),
            "findings": len(report.findings),
            "problems": len(report.problems),
            "suppressed": report.suppressed,
            "by_severity": {str(s): counts.get(str(s), 0) for s in reversed(Severity)},
        },
        "findings": [_finding(f) for f in report.findings],
        "problems": [_problem(p) for p in report.problems],
        "subjects": [_subject(s) for s in report.subjects],
        "details": dict(report.details),
    }


def _finding(finding: Finding) -> dict[str, Any]:
    return {
        "rule_id": finding.rule.id,
        "title": finding.rule.title,
        "severity": str(finding.severity),
        "confirmed": finding.confirmed,
        "subject": _subject(finding.subject),
        "location": _location(finding.location),
        "message": finding.message,
        "evidence": dict(finding.evidence),
    }


def _problem(problem: Problem) -> dict[str, Any]:
    return {"kind": problem.kind.value, "subject": _subject(problem.subject), "message": problem.message}


def _subject(subject: Subject) -> dict[str, Any]:
    return asdict(subject)


def _location(location: Location) -> dict[str, Any]:
    data = {k: v for k, v in asdict(location).items() if v not in (None, ())}
    if "nodes" in data:
        data["nodes"] = list(data["nodes"])
    return data


def _fallback(value: object) -> Any:
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
    return repr(value)
