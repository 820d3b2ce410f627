"""``mlvet lineage verify``: a model's chain of signed stage attestations, judged under a policy.

Every envelope in the bundle is checked against the policy's keys; the chain is walked back from
the model's digest (``chain.walk``); with ``check_equivalence`` each quantize/convert/compile stage
whose models are on disk is tested for equivalence (``equivalence``). Findings say why the answer
is no; problems (exit 2) say what could not be examined: an unreadable bundle line, a stage whose
models cannot be run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlvet import __version__
from mlvet.errors import InputError
from mlvet.findings import Finding, Location, Problem, ProblemKind, Report, Subject
from mlvet.provenance.dsse import INTOTO_PAYLOAD_TYPE, MalformedEnvelope, envelope_parts, verify_envelope
from mlvet.provenance.lineage.bundle import default_bundle, parse_bundle
from mlvet.provenance.lineage.chain import Chain, Claim, Issue, StageNode, walk
from mlvet.provenance.lineage.policy import Policy, load_policy
from mlvet.provenance.lineage.rules import (
    BAD_SIGNATURE,
    NEW_STRUCTURE,
    NOT_EQUIVALENT,
    UNAUTHORISED_SIGNER,
    UNREADABLE_ATTESTATION,
)
from mlvet.provenance.lineage.statement import (
    BUILD_TYPE,
    SLSA_PROVENANCE,
    STATEMENT_TYPE,
    StageRecord,
    StatementError,
    parse_statement,
    short,
)
from mlvet.provenance.manifest import model_digest


def verify_lineage(
    model: Path | str,
    policy: Policy | Path | str,
    *,
    bundle: Path | str | None = None,
    check_equivalence: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Verify the lineage of ``model`` under ``policy`` (a ``Policy`` or the path of its TOML file).

    ``progress`` is called with a stage's name before its equivalence check (the slow part).
    """
    started = datetime.now(UTC)
    model = Path(model)
    if not isinstance(policy, Policy):
        policy = load_policy(Path(policy))
    if not model.exists():
        raise InputError(f"{model}: no such file or directory")
    digest = model_digest(model)
    bundle_path = Path(bundle) if bundle is not None else default_bundle(model)
    subject = Subject(path=str(model), sha256=digest, size=model.stat().st_size if model.is_file() else None)
    bundle_subject = Subject(path=str(bundle_path), format="intoto-jsonl")
    verification = _Verification(policy, subject, bundle_subject)
    for line in parse_bundle(bundle_path):
        if line.envelope is None:
            verification.unreadable(line.number, line.error or "unreadable")
        else:
            verification.read_envelope(line.number, line.envelope)
    chain = walk(verification.claims, digest, policy, verification.refused, verification.unreadable_lines)
    verification.issues += chain.issues
    if check_equivalence:
        already_failed = bool(verification.issues)
        for node in chain.nodes:
            if progress is not None:
                progress(node.stage)
            _equivalence(node, digest, model, bundle_path, policy, verification, already_failed)
    findings = [verification.finding(issue) for issue in verification.issues]
    details = _details(model, digest, bundle_path, policy, chain, verification, check_equivalence)
    details["verified"] = not findings and not verification.problems
    return Report(
        tool_version=__version__,
        started=started,
        finished=datetime.now(UTC),
        subjects=(subject, bundle_subject),
        findings=tuple(sorted(findings, key=lambda f: (f.location.line or 0, -f.severity))),
        problems=tuple(verification.problems),
        details=details,
    )


class _Verification:
    """What reading the bundle found: claims for the walk, issues, problems, skipped lines."""

    def __init__(self, policy: Policy, subject: Subject, bundle: Subject) -> None:
        self.policy = policy
        self.subject = subject
        self.bundle = bundle
        self.claims: list[Claim] = []
        self.issues: list[Issue] = []
        self.problems: list[Problem] = []
        self.skipped: list[dict[str, Any]] = []
        self.rejected: list[dict[str, Any]] = []
        self.refused: list[Claim] = []
        self.unreadable_lines: list[int] = []

    def unreadable(self, line: int, reason: str) -> None:
        message = f"bundle line {line} is unreadable: {reason}"
        self.unreadable_lines.append(line)
        self.issues.append(Issue(UNREADABLE_ATTESTATION, message, line))
        self.problems.append(Problem(self.bundle, ProblemKind.CORRUPT, message))

    def read_envelope(self, line: int, document: dict[str, Any]) -> None:
        """Read one line: a DSSE envelope (key signatures) or a Sigstore bundle holding one."""
        keyless = _is_sigstore_bundle(document)
        try:
            envelope = document.get("dsseEnvelope") if keyless else document
            if not isinstance(envelope, dict):
                raise MalformedEnvelope("the Sigstore bundle holds no dsseEnvelope")
            payload_type, payload, signatures = envelope_parts(envelope)
        except MalformedEnvelope as exc:
            self.unreadable(line, str(exc))
            return
        if payload_type != INTOTO_PAYLOAD_TYPE:
            self.skipped.append({"line": line, "reason": f"payloadType {payload_type}"})
            return
        try:
            statement = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError):
            self.unreadable(line, "the DSSE payload is not JSON")
            return
        if not _is_stage_statement(statement):
            kind = statement.get("predicateType") if isinstance(statement, dict) else None
            self.skipped.append({"line": line, "reason": f"not an mlvet stage statement ({kind})"})
            return
        try:
            record = parse_statement(statement)
        except StatementError as exc:
            self.unreadable(line, f"the stage statement is malformed: {exc}")
            return
        if keyless:
            self._read_keyless(line, document, record)
            return
        verified = verify_envelope(envelope, self.policy.verifiers())
        claimed = [keyid for keyid, _ in signatures]
        if not verified.signed_by:
            self.refused.append(Claim(line, record, ()))
            self._rejected(line, record.stage, claimed)
            return
        for keyid in claimed:
            if keyid in self.policy.keys and keyid not in verified.signed_by:
                self.issues.append(
                    Issue(
                        BAD_SIGNATURE,
                        f"stage {record.stage!r} (bundle line {line}): the signature by "
                        f"{self.policy.key_name(keyid)} does not verify; "
                        "the envelope was altered after signing",
                        line,
                        {"stage": record.stage, "keyid": keyid},
                    )
                )
        self.claims.append(Claim(line, record, verified.signed_by))

    def _read_keyless(self, line: int, document: dict[str, Any], record: StageRecord) -> None:
        """A Sigstore bundle counts for every policy identity it verifies as (offline)."""
        try:
            signed_by, reasons = sigstore_signers(document, self.policy)
        except InputError as exc:
            self.unreadable(line, str(exc))
            return
        if signed_by:
            self.claims.append(Claim(line, record, tuple(signed_by)))
            return
        self.refused.append(Claim(line, record, ()))
        self.rejected.append({"line": line, "stage": record.stage, "keyids": ["sigstore"]})
        why = "; ".join(reasons) or "the policy declares no Sigstore identity"
        self.issues.append(
            Issue(
                UNAUTHORISED_SIGNER,
                f"stage {record.stage!r} (bundle line {line}) is a Sigstore bundle that verifies as no "
                f"identity the policy accepts ({why}); the stage is not counted",
                line,
                {"stage": record.stage},
            )
        )

    def _rejected(self, line: int, stage: str, claimed: Sequence[str]) -> None:
        known = [k for k in claimed if k in self.policy.keys]
        self.rejected.append({"line": line, "stage": stage, "keyids": list(claimed)})
        if known:
            names = ", ".join(self.policy.key_name(k) for k in known)
            self.issues.append(
                Issue(
                    BAD_SIGNATURE,
                    f"stage {stage!r} (bundle line {line}): the signature by {names} does not verify; "
                    "the statement was altered after signing, so the stage is not counted",
                    line,
                    {"stage": stage, "keyids": known},
                )
            )
            return
        shown = ", ".join(f"keyid:{k[:12]}" if k else "(no keyid)" for k in claimed)
        self.issues.append(
            Issue(
                UNAUTHORISED_SIGNER,
                f"stage {stage!r} (bundle line {line}) is signed by a key the policy does not declare "
                f"({shown}); the stage is not counted",
                line,
                {"stage": stage, "keyids": list(claimed)},
            )
        )

    def finding(self, issue: Issue) -> Finding:
        """A finding about a bundle line is about the bundle (SARIF points at the line); others, the model."""
        return Finding(
            rule=issue.rule,
            severity=issue.rule.severity,
            subject=self.bundle if issue.line is not None else self.subject,
            location=Location(line=issue.line),
            message=issue.message,
            evidence=issue.evidence,
            confirmed=issue.rule in (BAD_SIGNATURE, NOT_EQUIVALENT),
        )


def sigstore_signers(document: dict[str, Any], policy: Policy) -> tuple[list[str], list[str]]:
    """The policy's Sigstore identities that the bundle ``document`` verifies as, and why the others fail.

    Verification is offline, against each identity's pinned trusted root or the one sigstore embeds.
    """
    from mlvet.provenance.keyless import verify_keyless

    raw = json.dumps(document).encode("utf-8")
    signed_by: list[str] = []
    reasons: list[str] = []
    for key in policy.identities():
        assert key.sigstore is not None
        result = verify_keyless(raw, key.sigstore, trusted_root=key.trusted_root)
        if result.verified:
            signed_by.append(key.keyid)
        else:
            reasons.append(f"not {key.name}: {result.reason}")
    return signed_by, reasons


def _is_sigstore_bundle(document: dict[str, Any]) -> bool:
    media = document.get("mediaType")
    return isinstance(media, str) and media.startswith("application/vnd.dev.sigstore.bundle")


def _is_stage_statement(statement: object) -> bool:
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        return False
    if statement.get("predicateType") != SLSA_PROVENANCE:
        return False
    predicate = statement.get("predicate")
    definition = predicate.get("buildDefinition") if isinstance(predicate, dict) else None
    return isinstance(definition, dict) and definition.get("buildType") == BUILD_TYPE


def _equivalence(
    node: StageNode,
    model_sha256: str,
    model: Path,
    bundle: Path,
    policy: Policy,
    verification: _Verification,
    already_failed: bool,
) -> None:
    rules = policy.stages.get(node.stage)
    tolerance = rules.equivalence if rules is not None else None
    record = node.record
    if tolerance is None or len(record.inputs) != 1 or record.inputs[0].sha256 == record.output.sha256:
        return
    from mlvet.probe.errors import MissingRuntimeError

    base = bundle.parent
    parent = base / record.inputs[0].name
    child = model if record.output.sha256 == model_sha256 else base / record.output.name
    try:
        for path, artifact in ((parent, record.inputs[0]), (child, record.output)):
            if not path.is_file():
                raise InputError(f"{path} is not on disk")
            if model_digest(path) != artifact.sha256:
                raise InputError(f"{path} on disk is not the attested {short(artifact.sha256)}")
        from mlvet.provenance.lineage.equivalence import check_equivalence

        result = check_equivalence(parent, child, tolerance)
    except MissingRuntimeError:
        verification.problems.append(
            Problem(
                verification.subject,
                ProblemKind.MISSING_EXTRA,
                f"{node.label()}: equivalence needs mlvet[onnx]: pip install 'mlvet[onnx]'",
            )
        )
        return
    except (InputError, ImportError) as exc:
        node.equivalence = {"checked": False, "reason": str(exc)}
        if not already_failed:  # once the answer is no, an unchecked stage cannot change it
            verification.problems.append(
                Problem(
                    verification.subject,
                    ProblemKind.UNSUPPORTED,
                    f"{node.label()}: equivalence not checked: {exc}",
                )
            )
        return
    node.equivalence = {"checked": True, **result.to_dict()}
    if not result.equivalent:
        worst = max(result.disagreements, key=lambda d: d.max_abs_diff)
        message = (
            f"{node.label()}: {child.name} disagrees with its input {parent.name} on "
            f"{len({d.origin for d in result.disagreements})} of {result.generated + result.gate_probes} "
            f"inputs beyond atol={tolerance.atol:g}, rtol={tolerance.rtol:g}; worst: output "
            f"{worst.output!r} off by {worst.max_abs_diff:.4g} on the input that {worst.origin}"
        )
        if worst.origin.startswith("generated"):
            message = message.replace("on the input that generated", "on generated")
        node.failures.append(message)
        verification.issues.append(
            Issue(NOT_EQUIVALENT, message, node.lines[0], {"stage": node.stage, **result.to_dict()})
        )
    if result.structure:
        message = f"{node.label()}: {child.name} gained structure its input lacks: " + "; ".join(
            result.structure
        )
        node.failures.append(message)
        verification.issues.append(
            Issue(NEW_STRUCTURE, message, node.lines[0], {"stage": node.stage, "changes": result.structure})
        )


def _details(
    model: Path,
    digest: str,
    bundle: Path,
    policy: Policy,
    chain: Chain,
    verification: _Verification,
    check_equivalence: bool,
) -> dict[str, Any]:
    return {
        "model": str(model),
        "sha256": digest,
        "bundle": str(bundle),
        "policy": str(policy.path),
        "required": list(policy.required),
        "check_equivalence": check_equivalence,
        "chain": [_node_details(node, policy) for node in chain.nodes],
        "unconnected": [_node_details(node, policy) for node in chain.unconnected],
        "rejected": verification.rejected,
        "skipped": verification.skipped,
    }


def _node_details(node: StageNode, policy: Policy) -> dict[str, Any]:
    record = node.record
    return {
        "stage": node.stage,
        "lines": list(node.lines),
        "output": {"name": record.output.name, "sha256": record.output.sha256},
        "inputs": [{"name": a.name, "sha256": a.sha256} for a in record.inputs],
        "parameters": dict(record.parameters),
        "signers": [
            {"keyid": k, "name": policy.key_name(k), "authorised": k in node.authorised} for k in node.signers
        ],
        "threshold": node.threshold,
        "ok": not node.failures,
        "failures": list(node.failures),
        "equivalence": node.equivalence,
    }
