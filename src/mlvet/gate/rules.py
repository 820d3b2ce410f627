"""Rules of the deployment gate (MLV5xxx): each reason a policy denies a model."""

from __future__ import annotations

from mlvet.findings import Rule, Severity

SCAN_NOT_CLEAN = Rule(
    "MLV5001",
    "Scan not clean",
    Severity.HIGH,
    "The static scan found code or structures at or above the severity the policy tolerates, or could not "
    "examine part of the model. A model that may run code on load must not be deployed; fix or replace it, "
    "or, if the finding is understood and accepted, suppress that rule ID in the scan settings.",
)
BACKDOOR_SUSPECTED = Rule(
    "MLV5002",
    "Graph-backdoor check failed",
    Severity.CRITICAL,
    "A graph-backdoor rule (MLV9xx) fired on the model: trigger logic in the inference graph. Such a "
    "model behaves normally until an input carries the trigger. Run 'mlvet probe' to confirm and compare "
    "with the known-good version ('mlvet diff').",
)
LINEAGE_FAILED = Rule(
    "MLV5003",
    "Lineage not verified",
    Severity.HIGH,
    "The chain of stage attestations from the source to this artifact did not verify under the identity "
    "policy: a stage is missing, unsigned, signed by an unauthorised identity, or its output is not the "
    "next stage's input. Without it nobody vouches for how the model was made.",
)
ENVIRONMENT_FAILED = Rule(
    "MLV5004",
    "Environment lock not verified",
    Severity.HIGH,
    "The framework environment differs from its vetted lock: a file was modified, added or removed, or a "
    "distribution is not the locked wheel. A tampered framework can backdoor any model it loads or converts.",
)
DIFF_OUT_OF_BOUNDS = Rule(
    "MLV5005",
    "Diff against the known-good out of bounds",
    Severity.HIGH,
    "The candidate differs from the known-good version more than the policy allows: new control flow, a "
    "new trigger subgraph, rewired late nodes, or changed tokenizer or chat template. Review the diff.",
)
APPROVALS_MISSING = Rule(
    "MLV5006",
    "Approvals missing",
    Severity.HIGH,
    "Fewer distinct, valid approvals than the policy requires for a role. Dual approval means two people "
    "other than the producer looked at the exact bytes being deployed.",
)
APPROVAL_WRONG_SUBJECT = Rule(
    "MLV5007",
    "Approval for another artifact",
    Severity.HIGH,
    "An approval's signed subject digest is not this model's (or this lock's) digest: it approved other "
    "bytes, so it does not count. Someone may be replaying an old approval onto a swapped artifact.",
)
APPROVAL_DUPLICATE = Rule(
    "MLV5008",
    "Duplicated approver",
    Severity.MEDIUM,
    "The same identity approved a role more than once; it counts once. Two approvals from one key are not "
    "dual approval.",
)
APPROVAL_BY_PRODUCER = Rule(
    "MLV5009",
    "Approval by the artifact's producer",
    Severity.HIGH,
    "An approval was signed by an identity that produced the artifact (signed its final stage attestation "
    "or its model signature). Separation of duties forbids approving one's own work; it does not count.",
)
APPROVAL_UNTRUSTED = Rule(
    "MLV5010",
    "Approval not verifiable",
    Severity.HIGH,
    "An approval's signature does not verify with any approver key the policy names, or the approval is "
    "malformed. It does not count; if the approver is legitimate, add their public key to the policy.",
)

UNKNOWN_CHECK = Rule(
    "MLV5011",
    "Policy requires an unknown check",
    Severity.HIGH,
    "The policy names a check mlvet does not know (often a typo such as [checks.scna]). A requirement "
    "that cannot be evaluated cannot be met, so the gate denies instead of skipping it. Fix the name; "
    "the known checks are scan, graph, diff, lineage and environment.",
)

RULES: tuple[Rule, ...] = (
    SCAN_NOT_CLEAN,
    BACKDOOR_SUSPECTED,
    LINEAGE_FAILED,
    ENVIRONMENT_FAILED,
    DIFF_OUT_OF_BOUNDS,
    APPROVALS_MISSING,
    APPROVAL_WRONG_SUBJECT,
    APPROVAL_DUPLICATE,
    APPROVAL_BY_PRODUCER,
    APPROVAL_UNTRUSTED,
    UNKNOWN_CHECK,
)
