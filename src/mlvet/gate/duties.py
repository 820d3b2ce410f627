"""Separation of duties: count valid approvals per role, from distinct approvers, none of them a producer."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlvet.findings import Rule
from mlvet.gate.approvals import ReadApproval
from mlvet.gate.policy import RoleRequirement
from mlvet.gate.rules import (
    APPROVAL_BY_PRODUCER,
    APPROVAL_DUPLICATE,
    APPROVAL_UNTRUSTED,
    APPROVAL_WRONG_SUBJECT,
    APPROVALS_MISSING,
)
from mlvet.provenance.keys import Verifier


@dataclass
class RoleTally:
    """What the approvals of one role came to."""

    role: str
    required: int
    subject_sha256: str
    approvers: list[str] = field(default_factory=list)
    rejected: list[tuple[Rule, str]] = field(default_factory=list)

    @property
    def met(self) -> bool:
        return len(self.approvers) >= self.required

    def reasons(self) -> list[tuple[Rule, str]]:
        """Why the role denies: every rejected approval and the shortfall; nothing when it is met.

        A rejected approval on a role that is met anyway stays in ``rejected`` (and in the report's
        details) without denying.
        """
        if self.met:
            return []
        have = ", ".join(self.approvers) or "none"
        shortfall = f"role {self.role}: {len(self.approvers)} of {self.required} required approvals ({have})"
        return [*self.rejected, (APPROVALS_MISSING, shortfall)]


def tally(
    requirement: RoleRequirement,
    subject_sha256: str,
    approvals: Sequence[ReadApproval],
    producers: frozenset[str],
) -> RoleTally:
    """Count the approvals of ``requirement.role`` that approve ``subject_sha256``."""
    result = RoleTally(requirement.role, requirement.required, subject_sha256)
    for read in approvals:
        if read.approval is None:
            result.rejected.append((APPROVAL_UNTRUSTED, read.error or f"line {read.line}: unreadable"))
            continue
        approval = read.approval
        if approval.role != requirement.role:
            continue
        where = f"role {approval.role}, line {read.line}"
        if read.error or not read.signed_by:
            reason = read.error or "signed by no approver key in the policy"
            result.rejected.append((APPROVAL_UNTRUSTED, f"{where}: {reason}"))
            continue
        name = read.signed_by[0]
        if approval.subject_sha256 != subject_sha256:
            result.rejected.append(
                (
                    APPROVAL_WRONG_SUBJECT,
                    f"{where}: {name} approved sha256:{approval.subject_sha256[:16]}…, "
                    f"not this artifact (sha256:{subject_sha256[:16]}…)",
                )
            )
        elif name in producers:
            result.rejected.append((APPROVAL_BY_PRODUCER, f"{where}: {name} produced the artifact"))
        elif name in result.approvers:
            result.rejected.append((APPROVAL_DUPLICATE, f"{where}: {name} already approved this role"))
        else:
            result.approvers.append(name)
    return result


def producers(model: Path, model_sha256: str, approvers: Mapping[str, Verifier]) -> frozenset[str]:
    """The approvers whose key signed the stage attestation that produced ``model`` (its final stage)."""
    from mlvet.errors import InputError
    from mlvet.provenance.dsse import MalformedEnvelope, verify_envelope
    from mlvet.provenance.lineage.bundle import default_bundle, parse_bundle

    bundle = default_bundle(model)
    if not bundle.is_file():
        return frozenset()
    try:
        lines = parse_bundle(bundle)
    except InputError:
        return frozenset()
    found: set[str] = set()
    for line in lines:
        if line.envelope is None:
            continue
        try:
            verified = verify_envelope(line.envelope, list(approvers.values()))
            subjects = json.loads(verified.payload).get("subject", [])
        except (MalformedEnvelope, ValueError, AttributeError):
            continue
        if any(isinstance(s, dict) and s.get("digest", {}).get("sha256") == model_sha256 for s in subjects):
            found.update(name for name, v in approvers.items() if v.keyid in verified.signed_by)
    return frozenset(found)
