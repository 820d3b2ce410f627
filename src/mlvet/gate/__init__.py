"""``mlvet gate``: may this model be deployed? Every required check and approval, one decision.

``evaluate_gate(model, policy)`` runs the checks the policy names (scan, graph backdoors, lineage,
environment lock, diff against the known-good) and counts the approvals per role from distinct
approvers, refusing any signed by an identity that produced the artifact. The ``Report`` holds one
finding per reason to deny; ``details["decision"]`` is ``pass`` or ``deny``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlvet import __version__
from mlvet.errors import InputError
from mlvet.findings import Finding, Location, Report, Subject
from mlvet.gate.approvals import approvals_path, approve, read_approvals
from mlvet.gate.checks import CHECKS, CheckResult, ScanCache
from mlvet.gate.duties import RoleTally, producers, tally
from mlvet.gate.policy import CHECK_OPTIONS, Policy, load_policy
from mlvet.gate.rules import RULES, UNKNOWN_CHECK
from mlvet.provenance.keys import load_verifier
from mlvet.provenance.manifest import model_digest

__all__ = ["RULES", "approve", "evaluate_gate", "load_policy"]


def evaluate_gate(model: Path, policy: Policy | Path, *, approvals: Path | None = None) -> Report:
    """The gate's decision on ``model`` under ``policy`` (a loaded policy or its file).

    Approvals are read from ``approvals`` (default: ``<model>.approvals.jsonl`` beside the model).
    """
    started = datetime.now(UTC)
    if not model.exists():
        raise InputError(
            f"{model}: no such file or directory", hint="give the model file or directory to deploy"
        )
    rules = policy if isinstance(policy, Policy) else load_policy(policy)
    digest = model_digest(model)
    subject = Subject(str(model), format=None, sha256=digest)
    cache = ScanCache()
    results = [CHECKS[name](model, options, cache) for name, options in rules.checks.items()]
    tallies = _approvals(model, digest, rules, approvals or approvals_path(model))
    findings = [
        Finding(rule, rule.severity, subject, Location(pointer=f"checks.{result.name}"), message)
        for result in results
        for rule, message in result.reasons
    ]
    findings += [
        Finding(rule, rule.severity, subject, Location(pointer=f"approvals.{t.role}"), message)
        for t in tallies
        for rule, message in t.reasons()
    ]
    known = ", ".join(CHECK_OPTIONS)
    findings += [
        Finding(
            UNKNOWN_CHECK,
            UNKNOWN_CHECK.severity,
            subject,
            Location(pointer=f"checks.{name}"),
            f"the policy requires check {name!r}, which mlvet does not know (known: {known})",
        )
        for name in rules.unknown_checks
    ]
    denied = (
        any(not r.passed for r in results) or any(not t.met for t in tallies) or bool(rules.unknown_checks)
    )
    details = _details(model, digest, rules, results, tallies, denied)
    return Report(__version__, started, datetime.now(UTC), (subject,), tuple(findings), (), 0, details)


def _approvals(model: Path, digest: str, policy: Policy, store: Path) -> list[RoleTally]:
    if not policy.roles:
        return []
    approvers = {name: load_verifier(path) for name, path in policy.approvers.items()}
    read = read_approvals(store, approvers)
    makers = producers(model, digest, approvers)
    return [
        tally(requirement, model_digest(requirement.lock) if requirement.lock else digest, read, makers)
        for requirement in policy.roles
    ]


def _details(
    model: Path,
    digest: str,
    policy: Policy,
    results: list[CheckResult],
    tallies: list[RoleTally],
    denied: bool,
) -> dict[str, Any]:
    return {
        "decision": "deny" if denied else "pass",
        "model": str(model),
        "digest": f"sha256:{digest}",
        "policy": str(policy.path),
        "checks": [
            {"check": r.name, "passed": r.passed, "summary": r.summary, "reasons": [m for _, m in r.reasons]}
            for r in results
        ]
        + [
            {
                "check": name,
                "passed": False,
                "summary": "unknown check",
                "reasons": ["mlvet has no such check"],
            }
            for name in policy.unknown_checks
        ],
        "approvals": [
            {
                "role": t.role,
                "required": t.required,
                "approved_by": t.approvers,
                "met": t.met,
                "rejected": [{"rule": rule.id, "reason": message} for rule, message in t.rejected],
            }
            for t in tallies
        ],
    }
