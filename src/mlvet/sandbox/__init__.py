"""``mlvet sandbox``: load an untrusted file with its real loader inside isolation and report what it tried.

``detonate(path)`` picks the strongest isolation rung the machine supports (bwrap → unshare →
seccomp + Landlock → refuse), starts the runner (``inside/``) there, reads its audit-event log, and
returns a ``Report`` whose findings are the file's attempted actions (MLV3xxx) together with the
static scan's findings, marked ``confirmed`` where the run proved them. This is the only package in
mlvet that runs untrusted code, and only inside that isolation.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlvet import __version__
from mlvet.errors import InputError
from mlvet.findings import Finding, Problem, ProblemKind, Report, Severity, Subject
from mlvet.sandbox import capabilities, crosscheck, evidence, launch, loaders
from mlvet.sandbox.capabilities import Capabilities
from mlvet.sandbox.ladder import Isolation, SandboxUnavailable, choose
from mlvet.sandbox.launch import Limits
from mlvet.sandbox.rules import RULES
from mlvet.sandbox.supervisor import Observation, supervise

__all__ = [
    "Capabilities",
    "Isolation",
    "Limits",
    "SandboxUnavailable",
    "detonate",
    "detonate_all",
    "probe",
]

probe = capabilities.probe


def detonate(
    path: Path | str,
    *,
    loader: str = "auto",
    isolation: Isolation | str | None = None,
    limits: Limits | None = None,
    keep_output: Path | str | None = None,
    static: Report | None = None,
    cross_check: bool = True,
) -> Report:
    """Load ``path`` with ``loader`` in the sandbox and report what it did.

    ``isolation`` forces a rung (SandboxUnavailable when it cannot run here); ``static`` is a scan
    report to cross-check against (by default the file is scanned first; ``cross_check=False`` skips
    that). ``keep_output`` receives a copy of whatever the runner wrote. Raises InputError for a
    missing file or an unknown loader; everything the run shows is in the report.
    """
    started = datetime.now(UTC)
    artifact = Path(path)
    if not artifact.is_file():
        raise InputError(f"{artifact}: not a file" if artifact.exists() else f"{artifact}: no such file")
    chosen = loaders.choose_loader(artifact) if loader == "auto" else loader
    if chosen not in loaders.LOADERS:
        raise InputError(f"unknown loader {loader!r}", hint="use one of: auto, " + ", ".join(loaders.LOADERS))
    rung = choose(probe(), Isolation(isolation) if isinstance(isolation, str) else isolation)
    limits = limits or Limits()
    if static is None and cross_check:
        from mlvet.scan import scan

        static = scan([artifact])
    subject = _subject(artifact, static)
    plan, seen = _run(rung, artifact, chosen, limits, keep_output)
    dynamic = [
        Finding(j.rule, j.rule.severity, subject, j.location, j.message, j.evidence, confirmed=True)
        for j in evidence.judge_observation(seen)
    ]
    static_findings = [f for f in (static.findings if static else ()) if f.subject.path == subject.path]
    findings = list(dynamic)
    if static is not None:
        findings += crosscheck.confirm(static_findings, dynamic, crosscheck.resolved_globals(seen.events))
        gap = crosscheck.static_gap(subject, static_findings, dynamic)
        if gap is not None:
            findings.append(gap)
    own = {rule.id for rule in RULES}
    findings.sort(key=lambda f: (-f.severity, f.rule.id not in own, f.location.pointer or ""))
    problems = _problems(subject, seen, chosen, findings)
    return Report(
        tool_version=__version__,
        started=started,
        finished=datetime.now(UTC),
        subjects=(subject,),
        findings=tuple(findings),
        problems=tuple(problems),
        suppressed=0,
        details=_details(rung, plan, seen, chosen, limits, static),
    )


def detonate_all(static: Report, **options: Any) -> Report:
    """``scan --dynamic``: detonate every top-level file of ``static`` that a loader can open; merge."""
    started = datetime.now(UTC)
    findings: list[Finding] = list(static.findings)
    problems = list(static.problems)
    runs: list[dict[str, Any]] = []
    for subject in _detonatable(static.subjects):
        try:
            loaders.choose_loader(Path(subject.path))
        except InputError:
            continue
        report = detonate(subject.path, static=static, **options)
        findings = [f for f in findings if f.subject.path != subject.path] + list(report.findings)
        problems += report.problems
        runs.append({"path": subject.path, **report.details})
    findings.sort(key=lambda f: (-f.severity, f.subject.display, f.rule.id))
    return Report(
        tool_version=__version__,
        started=min(started, static.started),
        finished=datetime.now(UTC),
        subjects=static.subjects,
        findings=tuple(findings),
        problems=tuple(problems),
        suppressed=static.suppressed,
        details={**static.details, "dynamic": runs},
    )


def _detonatable(subjects: Iterable[Subject]) -> list[Subject]:
    seen: set[str] = set()
    unique = []
    for subject in subjects:
        if subject.member is None and subject.path not in seen and Path(subject.path).is_file():
            seen.add(subject.path)
            unique.append(subject)
    return unique


def _run(
    rung: Isolation, artifact: Path, loader: str, limits: Limits, keep_output: Path | str | None
) -> tuple[launch.Plan, Observation]:
    work = Path(tempfile.mkdtemp(prefix="mlvet-sandbox-"))
    try:
        read_fd, write_fd = os.pipe()
        os.set_inheritable(write_fd, True)
        name = loaders.inside_name(loader, artifact)
        plan = launch.plan(rung, artifact, name, loader, work, limits, write_fd)
        seen = supervise(plan, read_fd, write_fd, limits.timeout_s, work, bwrap=rung is Isolation.BWRAP)
        if keep_output is not None:
            shutil.copytree(work, Path(keep_output), symlinks=True, dirs_exist_ok=True)
        return plan, seen
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _subject(artifact: Path, static: Report | None) -> Subject:
    for subject in static.subjects if static else ():
        if subject.path == str(artifact) and subject.member is None:
            return subject
    digest = hashlib.sha256()
    with artifact.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return Subject(path=str(artifact), sha256=digest.hexdigest(), size=artifact.stat().st_size)


def _problems(subject: Subject, seen: Observation, loader: str, findings: list[Finding]) -> list[Problem]:
    failure = seen.setup_failure
    if failure is not None and seen.begin is None:
        layer, error = failure.get("layer"), failure.get("error")
        if layer == "loader":
            return [
                Problem(
                    subject,
                    ProblemKind.MISSING_EXTRA,
                    f"not detonated: the {loader} loader is not installed ({error})",
                )
            ]
        return [
            Problem(
                subject,
                ProblemKind.UNSUPPORTED,
                f"not detonated: the {layer} layer could not be applied ({error})",
            )
        ]
    if seen.begin is None and not seen.timed_out:
        tail = (seen.stderr.strip().splitlines() or ["no output"])[-1]
        return [Problem(subject, ProblemKind.INTERNAL, f"the sandboxed runner did not start: {tail}")]
    if seen.dropped_events:
        message = f"the event log overflowed: {seen.dropped_events} events beyond the first 5000 were dropped"
        return [Problem(subject, ProblemKind.LIMIT, message)]
    end = seen.end
    if (
        end is not None
        and not end.get("loaded", True)
        and not any(f.severity >= Severity.MEDIUM for f in findings)
    ):
        return [
            Problem(
                subject,
                ProblemKind.CORRUPT,
                f"the {loader} loader refused the file: {end.get('error')}: {end.get('message')}",
            )
        ]
    return []


_ALL_LAYERS = (
    "bwrap",
    "user namespace",
    "mount namespace (read-only root, private /tmp, homes hidden)",
    "PID namespace",
    "network namespace",
    "IPC namespace",
    "UTS namespace",
    "process session",
)


def _details(
    rung: Isolation, plan: launch.Plan, seen: Observation, loader: str, limits: Limits, static: Report | None
) -> dict[str, Any]:
    applied = (seen.begin or {}).get("applied", {})
    layers = [
        {"layer": name, "active": name in plan.layers or (name == "process session")} for name in _ALL_LAYERS
    ]
    landlock = applied.get("landlock")
    seccomp = applied.get("seccomp") or {}
    rlimits = applied.get("rlimits")
    layers += [
        {"layer": "rlimits", "active": bool(rlimits), "detail": rlimits},
        {"layer": "Landlock", "active": bool(landlock), "detail": landlock},
        {"layer": "seccomp: kernel surface and non-UNIX sockets", "active": bool(seccomp.get("surface"))},
        {"layer": "seccomp: no new processes", "active": bool(seccomp.get("spawn"))},
        {"layer": "audit-hook recorder", "active": bool(applied.get("audit_hook"))},
    ]
    return {
        "isolation": rung.value,
        "layers": layers,
        "loader": loader,
        "limits": {"memory_mb": limits.memory_mb, "timeout_s": limits.timeout_s, "file_mb": limits.file_mb},
        "outcome": {
            "began": seen.begin is not None,
            "ended": seen.end is not None,
            "loaded": (seen.end or {}).get("loaded"),
            "type": (seen.end or {}).get("type"),
            "error": (seen.end or {}).get("error"),
            "message": (seen.end or {}).get("message"),
            "returncode": seen.returncode,
            "signal": seen.signal,
            "timed_out": seen.timed_out,
            "canary_seen": seen.canary_seen,
            "log_closed_early": seen.log_closed_early,
            "duration_s": round(seen.duration_s, 3),
        },
        "events": seen.events,
        "dropped_events": seen.dropped_events,
        "files_written": seen.files_written,
        "stdout": seen.stdout,
        "stderr": seen.stderr[-4000:],
        "static_findings": len(static.findings) if static else None,
    }
