"""What every build-file analyser returns: issues with a rule, a severity and a line, reported alike."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlvet.findings import Location, Rule, Severity
from mlvet.scan.base import ScanContext

MAX_ISSUES_PER_RULE = 50


@dataclass(frozen=True)
class BuildIssue:
    """One thing a build file does, at a line (``None`` when it concerns the whole file)."""

    rule: Rule
    severity: Severity
    line: int | None
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)


def report_issues(issues: Iterable[BuildIssue], ctx: ScanContext) -> None:
    """Report each distinct issue once, most severe first per line, at most ``MAX_ISSUES_PER_RULE`` a rule."""
    seen: set[tuple[str, int | None, str]] = set()
    counts: dict[str, int] = {}
    for issue in sorted(issues, key=lambda i: (i.line or 0, -i.severity, i.rule.id)):
        key = (issue.rule.id, issue.line, issue.message)
        if key in seen:
            continue
        seen.add(key)
        counts[issue.rule.id] = counts.get(issue.rule.id, 0) + 1
        if counts[issue.rule.id] > MAX_ISSUES_PER_RULE:
            continue
        ctx.report(
            issue.rule,
            issue.message,
            location=Location(line=issue.line),
            evidence=issue.evidence,
            severity=issue.severity,
        )
