"""``mlvet env verify --lock``: installed distributions against a lock and its vetted wheels' RECORDs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from mlvet.env import rules
from mlvet.env.lockfile import Lock, LockedFile, LockedPackage
from mlvet.env.record import Distribution, parse_record
from mlvet.env.vetted import RecordComparison, compare_records
from mlvet.env.wheels import (
    RecordStore,
    default_store,
    expand_tags,
    file_sha256,
    parse_wheel_name,
    record_from_wheel,
)
from mlvet.findings import Finding, Location, Problem, ProblemKind, Rule, Subject

_SHOWN_DIFFERENCES = 20


@dataclass
class LockOutcome:
    findings: list[Finding] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def check_against_lock(
    distributions: list[Distribution], lock: Lock, *, records_dir: Path | None, wheels_dir: Path | None
) -> LockOutcome:
    """Names, versions and RECORDs of the installed distributions against ``lock``."""
    outcome = LockOutcome()
    store = RecordStore(records_dir or default_store())
    verdicts: dict[str, str] = {}
    unpinned: list[str] = []
    installed_keys = set()
    for dist in distributions:
        installed_keys.add(dist.key)
        subject = Subject(str(dist.metadata_dir), format="dist-info")
        owner = f"{dist.name} {dist.version}"
        package, why = _locked_package(dist, lock)
        if package is None:
            message = f"{owner}: {why}"
            outcome.findings.append(_finding(rules.NOT_LOCKED, subject, message, owner=owner))
            verdicts[dist.key] = "not locked"
            continue
        if package.directory is not None:
            verdicts[dist.key] = "directory source, not compared"
            continue
        if dist.record is None:
            verdicts[dist.key] = "no installed RECORD"
            continue
        pinned = [w for w in _candidates(package, dist) if w.record_sha256]
        if not pinned:
            unpinned.append(owner)
            verdicts[dist.key] = "not pinned"
            continue
        vetted = [(w, _vetted_record(w, package, dist, store, wheels_dir)) for w in pinned]
        available = [(w, data) for w, data in vetted if isinstance(data, bytes)]
        if not available:
            reasons = "; ".join(str(data) for _, data in vetted)
            outcome.problems.append(Problem(subject, ProblemKind.UNREADABLE, f"{owner}: {reasons}"))
            verdicts[dist.key] = "vetted RECORD not available"
            continue
        wheel, comparison = min(
            (
                (w, compare_records(dist.record, parse_record(data), dist.console_scripts))
                for w, data in available
            ),
            key=lambda pair: len(pair[1].differences),
        )
        verdicts[dist.key] = "differs" if comparison.differences else "match"
        if comparison.differences:
            outcome.findings.append(_record_finding(dist, subject, wheel, comparison))
    if unpinned:
        subject = Subject(str(lock.path) if lock.path else "lock", format=lock.format)
        message = (
            f"the lock pins no wheel RECORD for {len(unpinned)} distribution(s); "
            "their RECORDs were trusted as found"
        )
        outcome.findings.append(_finding(rules.LOCK_WITHOUT_RECORD, subject, message, distributions=unpinned))
    outcome.details = {
        "path": str(lock.path) if lock.path else None,
        "format": lock.format,
        "created_by": lock.created_by,
        "records_dir": str(store.root),
        "records": verdicts,
        "not_installed": sorted(k for k in lock.packages if k not in installed_keys),
        "notes": list(lock.notes),
    }
    return outcome


def _locked_package(dist: Distribution, lock: Lock) -> tuple[LockedPackage | None, str]:
    group = lock.packages.get(dist.key)
    if not group:
        return None, "installed but not in the lock"
    for package in group:
        if package.version is None or _same_version(package.version, dist.version):
            return package, ""
    pinned = ", ".join(sorted({p.version or "?" for p in group}))
    return None, f"installed at {dist.version}, the lock pins {pinned}"


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def _candidates(package: LockedPackage, dist: Distribution) -> list[LockedFile]:
    """The locked wheels that could be the installed build (by the WHEEL file's tags)."""
    installed = expand_tags(dist.wheel_tags)
    matching = []
    for wheel in package.wheels:
        name = parse_wheel_name(wheel.filename) if wheel.filename else None
        if name is None or not installed or name.tags & installed:
            matching.append(wheel)
    return matching


def _vetted_record(
    wheel: LockedFile, package: LockedPackage, dist: Distribution, store: RecordStore, wheels_dir: Path | None
) -> bytes | str:
    """The vetted RECORD's bytes, or why it is not at hand."""
    assert wheel.record_sha256 is not None
    data = store.get(wheel.record_sha256)
    if data is not None:
        return data
    local = wheels_dir / wheel.filename if wheels_dir and wheel.filename else None
    if local is None or not local.is_file():
        return (
            f"vetted RECORD {wheel.record_sha256[:12]}… of {wheel.filename} is not in {store.root}"
            " (run 'mlvet env lock' with the wheels, or pass --wheels DIR)"
        )
    if wheel.sha256 and file_sha256(local)[0] != wheel.sha256:
        return f"{local} does not match the sha256 the lock pins"
    try:
        data = record_from_wheel(local, package.name, dist.version)
    except (OSError, ValueError) as exc:
        return f"cannot read the RECORD in {local}: {exc}"
    if hashlib.sha256(data).hexdigest() != wheel.record_sha256:
        return f"the RECORD inside {local} does not match the hash the lock pins"
    store.put(data)
    return data


def _record_finding(
    dist: Distribution, subject: Subject, wheel: LockedFile, comparison: RecordComparison
) -> Finding:
    owner = f"{dist.name} {dist.version}"
    differences = comparison.differences
    first = differences[0]
    message = (
        f"{owner}: installed RECORD differs from the vetted wheel {wheel.filename} in {len(differences)} "
        f"row(s), first: {first.path} ({first.problem})"
    )
    evidence = {
        "owner": owner,
        "wheel": wheel.filename,
        "record_sha256": wheel.record_sha256,
        "differences": [
            {"path": d.path, "problem": d.problem, "installed": d.installed, "vetted": d.vetted}
            for d in differences[:_SHOWN_DIFFERENCES]
        ],
        "compared_rows": comparison.compared,
    }
    return Finding(
        rules.RECORD_NOT_VETTED, rules.RECORD_NOT_VETTED.severity, subject, Location(), message, evidence
    )


def _finding(rule: Rule, subject: Subject, message: str, **evidence: Any) -> Finding:
    return Finding(rule, rule.severity, subject, Location(), message, evidence)
