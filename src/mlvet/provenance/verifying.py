"""Verify a model against its OMS signature: the signer, the manifest, then every file.

The answer is a ``Report`` whose ``details`` hold the per-file table (keys documented in
``docs/verify.md``) and whose findings say why a model is not verified. Unreadable input (no such
model, a truncated bundle, a key file that is not a key) raises ``InputError`` instead.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlvet import __version__
from mlvet.errors import InputError
from mlvet.findings import Finding, Location, Report, Rule, Severity, Subject
from mlvet.provenance.bundle import Bundle, read_bundle
from mlvet.provenance.comparison import Comparison, FileResult, FileStatus, compare
from mlvet.provenance.hashing import ProgressSink
from mlvet.provenance.listing import normalize_ignore_path
from mlvet.provenance.manifest import default_ignores
from mlvet.provenance.rules import (
    ED25519_EXTENSION,
    FILE_CHANGED,
    FILE_MISSING,
    MANIFEST_INCONSISTENT,
    OTHER_MODEL,
    SYMLINK_POLICY,
    UNEXPECTED_FILE,
    UNHASHABLE_ENTRY,
)
from mlvet.provenance.signing import default_signature_path
from mlvet.provenance.statement import SignedManifest, parse_statement
from mlvet.provenance.trust import SignatureCheck, TrustInputs, check_signature

_FILE_RULES: dict[FileStatus, Rule] = {
    FileStatus.CHANGED: FILE_CHANGED,
    FileStatus.MISSING: FILE_MISSING,
    FileStatus.EXTRA: UNEXPECTED_FILE,
    FileStatus.SYMLINK: SYMLINK_POLICY,
    FileStatus.UNHASHABLE: UNHASHABLE_ENTRY,
}
_FILE_MESSAGES: dict[FileStatus, str] = {
    FileStatus.CHANGED: "{name} changed since signing",
    FileStatus.MISSING: "{name} is signed but missing",
    FileStatus.EXTRA: "{name} is not covered by the signature",
    FileStatus.SYMLINK: "{name} is a symlink {note}",
    FileStatus.UNHASHABLE: "{name} cannot be verified: {note}",
}


def _finding(
    rule: Rule,
    subject: Subject,
    message: str,
    *,
    pointer: str | None = None,
    severity: Severity | None = None,
    evidence: dict[str, Any] | None = None,
) -> Finding:
    return Finding(
        rule,
        severity if severity is not None else rule.severity,
        subject,
        Location(pointer=pointer),
        message,
        evidence or {},
        confirmed=True,
    )


def _file_findings(comparison: Comparison, model: Subject, ignore_unsigned: bool) -> list[Finding]:
    findings = []
    for row in comparison.rows:
        if row.status is FileStatus.OK or (row.status is FileStatus.EXTRA and ignore_unsigned):
            continue
        rule = _FILE_RULES[row.status]
        severity = None
        if row.status is FileStatus.SYMLINK and "followed (signed policy" in row.note:
            severity = Severity.MEDIUM
        message = _FILE_MESSAGES[row.status].format(name=row.name, note=row.note)
        subject = Subject(
            model.path,
            member=row.name,
            sha256=row.actual if row.actual and len(row.actual) == 64 else None,
            size=row.size,
        )
        findings.append(_finding(rule, subject, message, severity=severity, evidence=row.to_json()))
    return findings


def _other_model(comparison: Comparison, signed: SignedManifest, model: Path) -> bool:
    """Is the signature for some other model rather than for a modified copy of this one?

    Yes when no signed file is present with its signed digest (unless the model is a single changed
    file), or when the signed subject name differs from the model's and fewer than half match.
    """
    matched = comparison.count(FileStatus.OK)
    signed_files = {row.name for row in comparison.rows if row.expected is not None}
    local_files = {row.name for row in comparison.rows if row.actual is not None}
    if not local_files:
        return False
    if not matched:
        return len(signed_files) > 1 or not (signed_files & local_files)
    renamed = signed.subject_name not in ("", model.resolve().name)
    return renamed and matched * 2 < len(signed_files)


def verify(
    model: Path | str,
    trust: TrustInputs | None = None,
    *,
    key: Path | str | None = None,
    signature: Path | str | None = None,
    ignore_paths: Sequence[str] = (),
    ignore_unsigned_files: bool = False,
    workers: int | None = None,
    progress: ProgressSink | None = None,
) -> Report:
    """Is ``model`` exactly what its signature vouches for, signed by someone ``trust`` accepts?

    ``key`` is a shorthand for ``trust=TrustInputs(key=...)``.
    """
    model = Path(model)
    if trust is None:
        trust = TrustInputs(key=Path(key) if key is not None else None)
    started = datetime.now(UTC)
    clock = time.perf_counter()
    if not model.exists():
        raise InputError(f"model {model} does not exist")
    signature = Path(signature) if signature is not None else default_signature_path(model)
    bundle = read_bundle(signature)
    check = check_signature(bundle, trust)
    model_subject = Subject(str(model), format="model")
    signature_subject = Subject(str(signature), format="sigstore-bundle")
    findings: list[Finding] = []
    if check.extension:
        findings.append(
            _finding(
                ED25519_EXTENSION,
                signature_subject,
                "signed with Ed25519, an mlvet extension to OMS",
                pointer="/dsseEnvelope/signatures",
            )
        )
    details: dict[str, Any] = _signature_details(model, signature, bundle, check)
    if check.failed_rule is not None or check.payload is None:
        assert check.failed_rule is not None
        findings.append(
            _finding(check.failed_rule, signature_subject, check.reason, pointer="/dsseEnvelope/signatures")
        )
        details.update(verified=False, files=[], counts={}, seconds=round(time.perf_counter() - clock, 3))
        return _report(started, (model_subject, signature_subject), findings, details)
    signed = parse_statement(check.payload)
    details["subject"] = {"name": signed.subject_name, "digest": signed.subject_digest}
    details["serialization"] = signed.serialization.to_json()
    details["root_digest_consistent"] = signed.consistent
    if not signed.consistent:
        findings.append(
            _finding(
                MANIFEST_INCONSISTENT,
                signature_subject,
                f"the subject digest {signed.subject_digest[:16]}… is not the root digest of the"
                f" listed resources ({signed.computed_root_digest[:16]}…)",
                pointer="/dsseEnvelope/payload",
            )
        )
    extra = [normalize_ignore_path(path, model) for path in ignore_paths]
    extra += default_ignores(model, signature, git=False)
    comparison = compare(model, signed, extra_ignores=extra, workers=workers, progress=progress)
    if _other_model(comparison, signed, model):
        findings.append(
            _finding(
                OTHER_MODEL,
                model_subject,
                f"none of the {len(signed.resources)} signed resources matches a file of {model}:"
                f" the signature is for another model (signed as {signed.subject_name!r})",
                evidence={"signed_subject": signed.subject_name},
            )
        )
        findings += [
            f
            for f in _file_findings(comparison, model_subject, ignore_unsigned_files)
            if f.rule.id not in {FILE_CHANGED.id, FILE_MISSING.id, UNEXPECTED_FILE.id}
        ]
    else:
        findings += _file_findings(comparison, model_subject, ignore_unsigned_files)
    counts = {str(status): comparison.count(status) for status in FileStatus}
    verified = not any(finding.severity >= Severity.LOW for finding in findings)
    details.update(
        verified=verified,
        files=[row.to_json() for row in comparison.rows],
        counts=counts,
        bytes_hashed=comparison.bytes_hashed,
        seconds=round(time.perf_counter() - clock, 3),
    )
    return _report(started, (model_subject, signature_subject), findings, details)


def _signature_details(model: Path, signature: Path, bundle: Bundle, check: SignatureCheck) -> dict[str, Any]:
    return {
        "model": str(model),
        "signature": str(signature),
        "method": bundle.method,
        "algorithm": check.algorithm,
        "extension": check.extension,
        "signature_valid": check.valid,
        "signer": check.signer,
        "signer_trusted": check.trusted,
        "trust": check.reason,
        "chain": list(check.chain),
    }


def _report(
    started: datetime, subjects: tuple[Subject, ...], findings: list[Finding], details: dict[str, Any]
) -> Report:
    return Report(
        tool_version=__version__,
        started=started,
        finished=datetime.now(UTC),
        subjects=subjects,
        findings=tuple(findings),
        details=details,
    )


def changed_rows(report: Report) -> list[FileResult]:
    """Rows of the verification table that are not ``ok`` (for human output)."""
    rows = report.details.get("files", [])
    return [
        FileResult(
            row["name"],
            FileStatus(row["status"]),
            row.get("expected"),
            row.get("actual"),
            row.get("size"),
            row.get("note", ""),
        )
        for row in rows
        if row["status"] != "ok"
    ]
