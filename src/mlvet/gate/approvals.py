"""Signed approvals: an in-toto statement per approver and role, DSSE-signed, kept beside the model.

The subject is the digest of what was approved: the model's (file SHA-256 or OMS root digest) for
``weights`` and ``deploy``, the lock file's for ``framework``. Approvals of one model live in
``<model>.approvals.jsonl``, one envelope per line.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from mlvet.errors import ConfigError, InputError
from mlvet.provenance.dsse import MalformedEnvelope, sign_envelope, verify_envelope
from mlvet.provenance.keys import Signer, Verifier
from mlvet.provenance.manifest import model_digest

STATEMENT_TYPE: Final = "https://in-toto.io/Statement/v1"
APPROVAL_PREDICATE: Final = "https://mlvet.dev/approval/v1"
SUFFIX: Final = ".approvals.jsonl"
ROLES: Final = ("weights", "framework", "deploy")
MAX_FILE_BYTES: Final = 16 * 1024 * 1024


@dataclass(frozen=True)
class Approval:
    """One approval as signed: who (keyid), for which role, of which digest, when and why."""

    role: str
    subject_name: str
    subject_sha256: str
    approver: str
    comment: str
    time: str


@dataclass(frozen=True)
class ReadApproval:
    """An approval line after verification: the approval and the approver names whose key signed it."""

    line: int
    approval: Approval | None
    signed_by: tuple[str, ...]
    error: str | None = None


def approvals_path(model: Path) -> Path:
    """Where the approvals of ``model`` live: ``<model>.approvals.jsonl`` beside it."""
    name = model.name or model.resolve().name
    return model.parent / f"{name}{SUFFIX}"


def approve(
    model: Path,
    signer: Signer,
    role: str,
    comment: str,
    *,
    lock: Path | None = None,
    store: Path | None = None,
) -> tuple[Approval, Path]:
    """Sign an approval of ``model`` (or, for the framework role, of ``lock``) and append it."""
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}", hint=f"roles: {', '.join(ROLES)}")
    if role == "framework" and lock is None:
        raise ConfigError("a framework approval signs the environment lock", hint="give --lock pylock.toml")
    if not model.exists():
        raise InputError(f"{model}: no such file or directory")
    subject = lock if role == "framework" and lock is not None else model
    if not subject.is_file() and not subject.is_dir():
        raise InputError(f"{subject}: no such file or directory")
    approval = Approval(
        role=role,
        subject_name=subject.name,
        subject_sha256=model_digest(subject),
        approver=signer.keyid,
        comment=comment,
        time=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    envelope = sign_envelope(json.dumps(_statement(approval), sort_keys=True).encode(), [signer])
    target = store or approvals_path(model)
    _append(target, json.dumps(envelope, sort_keys=True, separators=(",", ":")))
    return approval, target


def read_approvals(path: Path, approvers: dict[str, Verifier]) -> list[ReadApproval]:
    """Every line of ``path`` verified against the named ``approvers``; a missing file has none."""
    if not path.exists():
        return []
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InputError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB, not an approvals file")
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read approvals: {exc}") from None
    names = {verifier.keyid: name for name, verifier in approvers.items()}
    results = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            results.append(_read_line(number, line, list(approvers.values()), names))
    return results


def _read_line(number: int, line: str, verifiers: Sequence[Verifier], names: dict[str, str]) -> ReadApproval:
    try:
        envelope = json.loads(line)
        verified = verify_envelope(envelope, verifiers)
        approval = _parse(json.loads(verified.payload))
    except (ValueError, MalformedEnvelope, KeyError, TypeError) as exc:
        return ReadApproval(number, None, (), f"line {number} is not a valid approval: {exc}")
    signed_by = tuple(names[keyid] for keyid in verified.signed_by)
    if approval.approver not in verified.signed_by:
        return ReadApproval(number, approval, signed_by, "not signed by the approver it names")
    return ReadApproval(number, approval, signed_by)


def _statement(approval: Approval) -> dict[str, Any]:
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": approval.subject_name, "digest": {"sha256": approval.subject_sha256}}],
        "predicateType": APPROVAL_PREDICATE,
        "predicate": {
            "role": approval.role,
            "approver": {"keyid": approval.approver},
            "comment": approval.comment,
            "timestamp": approval.time,
        },
    }


def _parse(statement: Any) -> Approval:
    if statement.get("_type") != STATEMENT_TYPE or statement.get("predicateType") != APPROVAL_PREDICATE:
        raise ValueError("not an mlvet approval statement")
    (subject,) = statement["subject"]
    predicate = statement["predicate"]
    role = predicate["role"]
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    return Approval(
        role=role,
        subject_name=str(subject["name"]),
        subject_sha256=str(subject["digest"]["sha256"]),
        approver=str(predicate["approver"]["keyid"]),
        comment=str(predicate.get("comment", "")),
        time=str(predicate.get("timestamp", "")),
    )


def _append(path: Path, line: str) -> None:
    """Append ``line`` atomically (the file is rewritten whole, so a crash never leaves half a line)."""
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    if existing and not existing.endswith("\n"):
        existing += "\n"
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(existing + line + "\n")
        Path(temporary).replace(path)
    except OSError as exc:
        raise InputError(f"cannot write approvals to {path}: {exc.strerror or exc}") from None
