"""The checks a policy can require; each runs one mlvet capability and says why it would deny.

Every check is ``(model, options) -> CheckResult`` and is listed in ``CHECKS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlvet.findings import Report, Rule, Severity
from mlvet.gate.rules import (
    BACKDOOR_SUSPECTED,
    DIFF_OUT_OF_BOUNDS,
    ENVIRONMENT_FAILED,
    LINEAGE_FAILED,
    SCAN_NOT_CLEAN,
)

GRAPH_AREA = "MLV9"
"""Rule IDs of the graph-backdoor area (MLV9xx)."""


@dataclass
class CheckResult:
    """A check's verdict: the reasons it denies (none = passed) and a one-line summary."""

    name: str
    summary: str
    reasons: list[tuple[Rule, str]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.reasons


Check = Callable[[Path, Mapping[str, Any], "ScanCache"], CheckResult]


class ScanCache:
    """One static scan of the model, shared by the scan and graph checks."""

    def __init__(self) -> None:
        self._reports: dict[Path, Report] = {}

    def report(self, model: Path) -> Report:
        if model not in self._reports:
            from mlvet.scan import scan

            self._reports[model] = scan([model])
        return self._reports[model]


def check_scan(model: Path, options: Mapping[str, Any], cache: ScanCache) -> CheckResult:
    threshold: Severity = options.get("fail_on", Severity.HIGH)
    report = cache.report(model)
    result = CheckResult("scan", f"no finding at or above {threshold}")
    for finding in report.at_or_above(threshold):
        if not finding.rule.id.startswith(GRAPH_AREA):
            result.reasons.append(
                (
                    SCAN_NOT_CLEAN,
                    f"{finding.rule.id} {finding.severity}: {finding.subject.display}: {finding.message}",
                )
            )
    result.reasons.extend(
        (SCAN_NOT_CLEAN, f"not fully examined: {p.subject.display}: {p.message}") for p in report.problems
    )
    return result


def check_graph(model: Path, options: Mapping[str, Any], cache: ScanCache) -> CheckResult:
    result = CheckResult("graph", "no graph-backdoor rule at medium or above")
    for finding in cache.report(model).at_or_above(Severity.MEDIUM):
        if finding.rule.id.startswith(GRAPH_AREA):
            nodes = ", ".join(finding.location.nodes[:6])
            result.reasons.append(
                (
                    BACKDOOR_SUSPECTED,
                    f"{finding.rule.id}: {finding.message}" + (f" (nodes {nodes})" if nodes else ""),
                )
            )
    return result


def check_lineage(model: Path, options: Mapping[str, Any], cache: ScanCache) -> CheckResult:
    from mlvet.provenance.lineage import default_bundle, verify_lineage

    summary = "chain verified under the identity policy"
    bundle = default_bundle(model)
    if not bundle.is_file():
        reason = f"no attestation bundle ({bundle.name}): nobody attested how this model was made"
        return CheckResult("lineage", summary, [(LINEAGE_FAILED, reason)])
    report = verify_lineage(
        model, options["policy"], check_equivalence=bool(options.get("check_equivalence"))
    )
    return _from_report("lineage", summary, report, LINEAGE_FAILED)


def check_environment(model: Path, options: Mapping[str, Any], cache: ScanCache) -> CheckResult:
    from mlvet.env import current_environment, environment_at, read_lock, verify_environment

    site = options.get("path")
    environment = environment_at(site) if site is not None else current_environment()
    report = verify_environment(environment, lock=read_lock(options["lock"]))
    return _from_report("environment", "installed files match the vetted lock", report, ENVIRONMENT_FAILED)


def check_diff(model: Path, options: Mapping[str, Any], cache: ScanCache) -> CheckResult:
    from mlvet.diff import diff

    limit: Severity = options.get("max_severity", Severity.MEDIUM)
    report = diff(options["known_good"], model)
    result = CheckResult("diff", f"no change above {limit} against {options['known_good']}")
    for finding in report.findings:
        if finding.severity > limit:
            result.reasons.append(
                (DIFF_OUT_OF_BOUNDS, f"{finding.rule.id} {finding.severity}: {finding.message}")
            )
    result.reasons.extend((DIFF_OUT_OF_BOUNDS, f"could not compare: {p.message}") for p in report.problems)
    return result


def _from_report(name: str, summary: str, report: Report, rule: Rule) -> CheckResult:
    result = CheckResult(name, summary)
    result.reasons.extend(
        (rule, f"{f.rule.id} {f.severity}: {f.message}") for f in report.at_or_above(Severity.MEDIUM)
    )
    result.reasons.extend((rule, f"not examined: {p.message}") for p in report.problems)
    return result


CHECKS: dict[str, Check] = {
    "scan": check_scan,
    "graph": check_graph,
    "lineage": check_lineage,
    "environment": check_environment,
    "diff": check_diff,
}
