"""The human view of ``env verify`` and ``env lock``: one line per problem file, like debsums/rpm -V."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from mlvet.findings import Finding, Report, Severity

STATUS = {
    "MLV2001": "modified",
    "MLV2002": "missing",
    "MLV2003": "unowned",
    "MLV2004": "startup",
    "MLV2005": "startup",
    "MLV2006": "unowned",
    "MLV2007": "hidden",
    "MLV2008": "script",
    "MLV2009": "unverifiable",
    "MLV2010": "unverifiable",
    "MLV2011": "not-vetted",
    "MLV2012": "not-locked",
    "MLV2013": "unpinned",
    "MLV2014": "unowned",
    "MLV2015": "unowned",
}
"""The word each rule shows in the STATUS column."""


def render_verification(report: Report, fail_on: Severity, *, verbose: bool = False) -> str:
    """Header, one line per finding, the distributions that failed (all with ``verbose``), the verdict."""
    details: Mapping[str, Any] = report.details
    environment = details.get("environment", {})
    totals = details.get("totals", {})
    site_dirs: list[str] = environment.get("site_dirs", [])
    lines = [f"environment: {', '.join(site_dirs)} (found by {environment.get('found_by')})"]
    lines += [f"note: {note}" for note in environment.get("notes", [])]
    recorded, hashed = totals.get("files_recorded", 0), totals.get("files_hashed", 0)
    lines.append(
        f"{totals.get('distributions', 0)} distributions, {recorded:,} recorded files, "
        f"{hashed:,} hashed ({_size(totals.get('bytes_hashed', 0))})"
    )
    if "lock" in details:
        lock = details["lock"]
        verdicts = Counter(lock.get("records", {}).values())
        summary = ", ".join(f"{count} {verdict}" for verdict, count in sorted(verdicts.items()))
        lines.append(f"lock: {lock.get('path')} ({lock.get('format')}): RECORD vs vetted wheel: {summary}")
    if report.findings:
        lines += ["", _row("STATUS", "SEVERITY", "RULE", "PATH", "DETAIL")]
        lines += [_finding_line(f, site_dirs) for f in _ordered(report.findings)]
    rows = details.get("distributions", [])
    shown = rows if verbose else [r for r in rows if r["status"] != "ok"]
    if shown:
        lines += ["", "distributions:" if verbose else "distributions that did not verify cleanly:"]
        for row in shown:
            extra = f", RECORD vs wheel: {row['vetted_record']}" if row.get("vetted_record") else ""
            counts = f"{row['hashed']}/{row['files']} files hashed"
            if row["modified"] or row["missing"]:
                counts += f", {row['modified']} modified, {row['missing']} missing"
            lines.append(f"  {row['name']} {row['version']}: {row['status']} ({counts}{extra})")
    hooks = details.get("startup_hooks", [])
    if hooks:
        lines += ["", "start-up hooks (run at every interpreter start):"]
        for hook in hooks:
            owner = hook["owner"] or "NO OWNER"
            lines.append(f"  {_relative(hook['path'], site_dirs)} [{owner}]")
    for problem in report.problems:
        lines.append(f"not verified: {problem.subject.display}: {problem.message}")
    lines += ["", _verdict(report, fail_on)]
    return "\n".join(lines) + "\n"


def render_lock_summary(report: Report) -> str:
    """What the lock holds and what it could not pin."""
    d: Mapping[str, Any] = report.details
    lines = [
        f"wrote {d.get('lock_file')}: {d.get('packages')} packages, {d.get('wheels')} wheels, "
        f"{d.get('records_pinned')} wheel RECORDs pinned (RECORD fetch: {d.get('record_fetch')})"
    ]
    if d.get("directories"):
        lines.append(f"locked by source directory (not hash-locked): {', '.join(d['directories'])}")
    if d.get("records_unknown"):
        lines.append(f"RECORD hash unknown for: {', '.join(d['records_unknown'])}")
    lines += [f"not locked: {p.subject.display}: {p.message}" for p in report.problems]
    return "\n".join(lines) + "\n"


def _ordered(findings: tuple[Finding, ...]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-f.severity, f.rule.id, f.subject.path))


def _finding_line(finding: Finding, site_dirs: list[str]) -> str:
    status = STATUS.get(finding.rule.id, finding.rule.id)
    path = _relative(finding.subject.path, site_dirs)
    return _row(status, str(finding.severity), finding.rule.id, path, finding.message)


def _row(status: str, severity: str, rule: str, path: str, detail: str) -> str:
    return f"{status:<12} {severity:<9} {rule:<8} {path}  {detail}".rstrip()


def _relative(path: str, site_dirs: list[str]) -> str:
    for site_dir in site_dirs:
        if path.startswith(site_dir.rstrip("/") + "/"):
            return path[len(site_dir.rstrip("/")) + 1 :]
    return path


def _verdict(report: Report, fail_on: Severity) -> str:
    failing = report.at_or_above(fail_on)
    counts = Counter(f.severity for f in report.findings)
    parts = ", ".join(f"{counts[s]} {s}" for s in reversed(Severity) if counts[s])
    found = f"{len(report.findings)} finding(s) ({parts})" if report.findings else "no findings"
    suppressed = f", {report.suppressed} suppressed" if report.suppressed else ""
    if report.problems:
        return f"UNDECIDED: {found}, {len(report.problems)} item(s) could not be verified{suppressed}"
    if failing:
        return f"FAILED: {found}; {len(failing)} at or above {fail_on}{suppressed}"
    return f"PASSED: {found}{suppressed}"


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{count} B"
        value /= 1000
    return f"{count} B"
