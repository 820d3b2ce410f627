"""``mlvet env verify``: every installed file against its RECORD, every unexplained file by what it can do."""

from __future__ import annotations

import hashlib
import os
import posixpath
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlvet.env import rules
from mlvet.env.hashing import NOT_REGULAR, FileHash, hash_files, open_regular
from mlvet.env.lockfile import Lock
from mlvet.env.record import (
    RECORD_SIGNATURES,
    Distribution,
    discover_distributions,
    encode_digest,
    resolve_entry,
)
from mlvet.env.scripts import entry_point_of, script_deviation
from mlvet.env.startup import FileKind, classify, executable_pth_lines, hidden_part
from mlvet.env.target import Environment
from mlvet.findings import Finding, Location, Problem, ProblemKind, Report, Rule, Severity, Subject

ProgressCallback = Callable[[int, int], None]
"""Called with (bytes just hashed, total bytes to hash)."""

_UNRECORDED_METADATA = frozenset({"INSTALLER", "REQUESTED", "direct_url.json", *RECORD_SIGNATURES})
_SCRIPT_DIRS = frozenset({"bin", "Scripts"})
_UNOWNED_RULES: dict[FileKind, Rule] = {
    FileKind.STARTUP_PTH: rules.STARTUP_PTH,
    FileKind.PATH_PTH: rules.UNOWNED_PATH_PTH,
    FileKind.CUSTOMIZE: rules.CUSTOMIZE,
    FileKind.NATIVE: rules.UNOWNED_NATIVE,
    FileKind.CODE: rules.UNOWNED_CODE,
    FileKind.OTHER: rules.UNOWNED_OTHER,
}


@dataclass
class _Job:
    path: str
    distribution: Distribution
    algorithm: str
    digest: str
    size: int | None


@dataclass
class _Tally:
    files: int = 0
    hashed: int = 0
    modified: int = 0
    missing: int = 0
    unhashed: int = 0
    examples: list[str] = field(default_factory=list)


def verify_environment(
    environment: Environment,
    *,
    lock: Lock | None = None,
    records_dir: Path | None = None,
    wheels_dir: Path | None = None,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
) -> Report:
    """Verify ``environment`` against its RECORDs; with ``lock`` also against the vetted wheels.

    ``records_dir`` is the store of vetted RECORDs ``mlvet env lock`` filled (default: the user
    cache); ``wheels_dir`` a directory of the locked wheels to take vetted RECORDs from instead.
    """
    from mlvet import __version__

    started = datetime.now(UTC)
    findings: list[Finding] = []
    problems: list[Problem] = []
    distributions: list[Distribution] = []
    for site_dir in environment.site_dirs:
        found, broken = discover_distributions(site_dir)
        distributions += found
        problems += [
            Problem(Subject(str(p)), ProblemKind.CORRUPT, f"unreadable metadata: {m}") for p, m in broken
        ]
    owned, jobs, tallies = _plan(distributions)
    total = sum(j.size or 0 for j in jobs)
    with ThreadPoolExecutor(max_workers=1) as side:  # the tree walk overlaps the hashing
        walked = side.submit(_unowned, environment, owned)
        hashes = hash_files(
            ((j.path, j.size) for j in jobs if j.algorithm == "sha256"),
            workers=workers,
            progress=(lambda n: progress(n, total)) if progress else None,
        )
        unowned, hooks = walked.result()
    for job in jobs:
        result = hashes.get(job.path) or _other_algorithm(job)
        finding, problem = _judge(job, result, tallies[job.distribution.metadata_dir])
        findings += [finding] if finding else []
        problems += [problem] if problem else []
    flagged = {f.subject.path for f in findings}
    findings += [f for f in _script_findings(jobs) if f.subject.path not in flagged]
    findings += unowned
    findings += _unverifiable(distributions, tallies)
    details: dict[str, Any] = {
        "environment": {
            "site_dirs": [str(d) for d in environment.site_dirs],
            "python": str(environment.python) if environment.python else None,
            "found_by": environment.found_by,
            "notes": list(environment.notes),
        },
        "startup_hooks": hooks,
    }
    if lock is not None:
        from mlvet.env.locked import check_against_lock

        outcome = check_against_lock(distributions, lock, records_dir=records_dir, wheels_dir=wheels_dir)
        findings += outcome.findings
        problems += outcome.problems
        details["lock"] = outcome.details
    vetted = details.get("lock", {}).get("records", {})
    details["distributions"] = [_row(d, tallies[d.metadata_dir], vetted.get(d.key)) for d in distributions]
    details["totals"] = _totals(distributions, tallies, findings, sum((r.size or 0) for r in hashes.values()))
    subjects = tuple(Subject(str(d.metadata_dir), format="dist-info") for d in distributions)
    return Report(
        __version__,
        started,
        datetime.now(UTC),
        subjects,
        tuple(findings),
        tuple(problems),
        details=details,
    )


def _plan(
    distributions: list[Distribution],
) -> tuple[dict[str, Distribution | None], list[_Job], dict[Path, _Tally]]:
    """Which distribution owns each file (None: listed without hashes by a legacy egg), the hashing jobs."""
    owned: dict[str, Distribution | None] = {}
    jobs: list[_Job] = []
    tallies: dict[Path, _Tally] = {}
    for dist in distributions:
        tally = tallies[dist.metadata_dir] = _Tally()
        site_dir = str(dist.site_dir)
        for entry in dist.record or ():
            path = resolve_entry(site_dir, entry.path)
            owned[path] = dist
            tally.files += 1
            if entry.algorithm and entry.digest:
                jobs.append(_Job(path, dist, entry.algorithm, entry.digest, entry.size))
            elif not _never_hashed(entry.path):
                tally.unhashed += 1
                if len(tally.examples) < 5:
                    tally.examples.append(entry.path)
        if dist.record is None:  # its metadata and an egg's file list: owned, yet never verified
            owned.update(dict.fromkeys(_legacy_file_list(dist)))
            owned.update(dict.fromkeys(str(p) for p in dist.metadata_dir.rglob("*") if p.is_file()))
    jobs.sort(key=lambda j: -(j.size or 0))  # big files first keeps every thread busy to the end
    return owned, jobs, tallies


def _never_hashed(path: str) -> bool:
    return path.endswith((".pyc", ".pyo")) or path.rsplit("/", 1)[-1] in RECORD_SIGNATURES


def _legacy_file_list(dist: Distribution) -> set[str]:
    """An egg-info's ``installed-files.txt``: ownership only, no hashes."""
    listing = dist.metadata_dir / "installed-files.txt"
    try:
        lines = listing.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return set()
    return {os.path.normpath(dist.metadata_dir / line.strip()) for line in lines if line.strip()}


def _other_algorithm(job: _Job) -> FileHash:
    """RECORD rows hashed with another guaranteed algorithm (sha384, sha512...): rare, done in line."""
    if job.algorithm not in hashlib.algorithms_guaranteed or job.algorithm in {"md5", "sha1", "sha224"}:
        return FileHash(None, None, f"RECORD names a hash algorithm mlvet does not accept: {job.algorithm!r}")
    try:
        handle = open_regular(job.path)
        if handle is None:
            return FileHash(None, None, NOT_REGULAR)
        with handle:
            data = handle.read()
    except OSError as exc:
        return FileHash(None, None, exc.strerror or str(exc))
    return FileHash(encode_digest(hashlib.new(job.algorithm, data).digest()), len(data))


def _judge(job: _Job, result: FileHash, tally: _Tally) -> tuple[Finding | None, Problem | None]:
    dist = job.distribution
    subject = Subject(job.path)
    owner = f"{dist.name} {dist.version}"
    if result.error == NOT_REGULAR:
        tally.modified += 1
        message = f"{owner}: replaced by something that is not a regular file (a FIFO or a device)"
        return _finding(rules.MODIFIED, subject, message, owner=owner), None
    if result.error is not None:
        if not os.path.lexists(job.path):
            tally.missing += 1
            return _finding(rules.MISSING, subject, f"{owner}: recorded file is missing", owner=owner), None
        return None, Problem(subject, ProblemKind.UNREADABLE, f"not verified: {result.error}")
    tally.hashed += 1
    size_differs = job.size is not None and result.size != job.size
    if result.digest == job.digest and not size_differs:
        return None, None
    tally.modified += 1
    evidence = {
        "owner": owner,
        "recorded": f"{job.algorithm}={job.digest}",
        "actual": f"{job.algorithm}={result.digest}",
        "recorded_size": job.size,
        "actual_size": result.size,
    }
    changed = "size and sha256 differ" if size_differs else "sha256 differs"
    site_dir = str(dist.site_dir)
    directory, name = os.path.split(job.path)
    if posixpath.basename(directory) in _SCRIPT_DIRS and not job.path.startswith(site_dir + os.sep):
        message = f"{owner}: console script {name} was rewritten ({changed})"
        return _finding(rules.SCRIPT_REWRITTEN, subject, message, **evidence), None
    kind = classify(job.path, site_dir)
    critical = kind in {FileKind.STARTUP_PTH, FileKind.CUSTOMIZE, FileKind.NATIVE}
    message = f"{owner}: {changed} from RECORD" + (f" ({kind.value})" if critical else "")
    finding = _finding(rules.MODIFIED, subject, message, **evidence)
    if critical:
        finding = Finding(finding.rule, Severity.CRITICAL, subject, finding.location, message, evidence)
    return finding, None


def _script_findings(jobs: list[_Job]) -> list[Finding]:
    """Generated console scripts whose code is no longer just a call of their entry point."""
    findings = []
    for job in jobs:
        dist = job.distribution
        directory, name = os.path.split(job.path)
        if not dist.entry_points or posixpath.basename(directory) not in _SCRIPT_DIRS:
            continue
        entry_point = entry_point_of(name, dict(dist.entry_points))
        if entry_point is None or job.path.startswith(f"{dist.site_dir}{os.sep}"):
            continue
        try:
            data = Path(job.path).read_bytes()
        except OSError:
            continue  # reported by the hash check
        reason = script_deviation(data, entry_point)
        if reason is not None:
            owner = f"{dist.name} {dist.version}"
            message = f"{owner}: console script {name} is not a plain call of {entry_point}: {reason}"
            findings.append(_finding(rules.SCRIPT_REWRITTEN, Subject(job.path), message, owner=owner))
    return findings


def _unowned(
    environment: Environment, owned: dict[str, Distribution | None]
) -> tuple[list[Finding], list[dict[str, Any]]]:
    """Files no RECORD lists, judged by what the interpreter would do with them; and every start-up hook."""
    findings: list[Finding] = []
    hooks: list[dict[str, Any]] = []
    hidden: dict[str, list[str]] = defaultdict(list)
    for site in environment.site_dirs:
        site_dir = str(site)
        for path in _walk(site_dir):
            kind = classify(path, site_dir)
            if kind in {FileKind.STARTUP_PTH, FileKind.CUSTOMIZE}:
                owner = owned.get(path)
                lines = executable_pth_lines(Path(path)) if kind is FileKind.STARTUP_PTH else []
                hooks.append(
                    {
                        "path": path,
                        "kind": kind.value,
                        "owner": f"{owner.name} {owner.version}" if owner else None,
                        "lines": [line for _, line in lines],
                    }
                )
            if path in owned or _benign_unrecorded(path, kind):
                continue
            hidden_dir = hidden_part(path, site_dir)
            if hidden_dir is not None:
                hidden[f"{site_dir}/{hidden_dir}"].append(path[len(site_dir) + 1 :])
                continue
            findings.append(_unowned_finding(Path(path), kind))
    for directory, files in hidden.items():
        message = f"hidden directory holds {len(files)} file(s) no distribution owns"
        findings.append(
            _finding(rules.HIDDEN_DIRECTORY, Subject(directory), message, files=sorted(files)[:50])
        )
    return findings, hooks


def _walk(site_dir: str) -> list[str]:
    paths: list[str] = []
    for root, dirs, files in os.walk(site_dir):
        # a symlinked directory is reported as the link, never followed
        paths += [f"{root}/{d}" for d in dirs if posixpath.islink(f"{root}/{d}")]
        paths += [f"{root}/{f}" for f in files]
    return paths


def _benign_unrecorded(path: str, kind: FileKind) -> bool:
    if kind is FileKind.BYTECODE_CACHE:
        return True  # compiled after install; only imported next to its (verified) source
    directory, name = os.path.split(path)
    return directory.endswith(".dist-info") and name in _UNRECORDED_METADATA


def _unowned_finding(path: Path, kind: FileKind) -> Finding:
    rule = _UNOWNED_RULES[kind]
    subject = Subject(str(path))
    if kind is FileKind.STARTUP_PTH:
        lines = executable_pth_lines(path)
        message = (
            f"start-up .pth no distribution owns executes code at every interpreter start: {lines[0][1]:.120}"
        )
        location = Location(line=lines[0][0])
        return Finding(
            rule, rule.severity, subject, location, message, {"lines": [text for _, text in lines]}
        )
    messages = {
        FileKind.PATH_PTH: ".pth file no distribution owns adds paths to sys.path",
        FileKind.CUSTOMIZE: f"{path.name} no distribution owns runs at every interpreter start",
        FileKind.NATIVE: "native library no distribution owns",
        FileKind.CODE: "Python code no distribution owns",
        FileKind.OTHER: "file no distribution owns",
    }
    return _finding(rule, subject, messages[kind])


def _unverifiable(distributions: list[Distribution], tallies: dict[Path, _Tally]) -> list[Finding]:
    findings = []
    for dist in distributions:
        subject = Subject(str(dist.metadata_dir), format="dist-info")
        owner = f"{dist.name} {dist.version}"
        if dist.record is None:
            message = f"{owner}: no RECORD, its files cannot be verified"
            findings.append(_finding(rules.NO_RECORD, subject, message, owner=owner))
        elif tallies[dist.metadata_dir].unhashed:
            tally = tallies[dist.metadata_dir]
            message = f"{owner}: {tally.unhashed} RECORD row(s) without a hash cannot be verified"
            findings.append(_finding(rules.UNHASHED, subject, message, owner=owner, examples=tally.examples))
    return findings


def _row(dist: Distribution, tally: _Tally, vetted: str | None) -> dict[str, Any]:
    if dist.record is None:
        status = "unverifiable"
    elif tally.modified or tally.missing:
        status = "modified" if tally.modified else "missing files"
    elif tally.unhashed:
        status = "partly verifiable"
    else:
        status = "ok"
    return {
        "name": dist.name,
        "version": dist.version,
        "status": status,
        "files": tally.files,
        "hashed": tally.hashed,
        "modified": tally.modified,
        "missing": tally.missing,
        "unhashed": tally.unhashed,
        "installer": dist.installer,
        "editable": dist.editable,
        "vetted_record": vetted,
    }


def _totals(
    distributions: list[Distribution], tallies: dict[Path, _Tally], findings: list[Finding], hashed_bytes: int
) -> dict[str, int]:
    unowned_rules = {r.id for r in _UNOWNED_RULES.values()} | {rules.HIDDEN_DIRECTORY.id}
    return {
        "distributions": len(distributions),
        "unverifiable_distributions": sum(1 for d in distributions if d.record is None),
        "files_recorded": sum(t.files for t in tallies.values()),
        "files_hashed": sum(t.hashed for t in tallies.values()),
        "bytes_hashed": hashed_bytes,
        "modified": sum(t.modified for t in tallies.values()),
        "missing": sum(t.missing for t in tallies.values()),
        "unowned": sum(1 for f in findings if f.rule.id in unowned_rules),
    }


def _finding(rule: Rule, subject: Subject, message: str, **evidence: Any) -> Finding:
    return Finding(rule, rule.severity, subject, Location(), message, evidence)
