"""Walk a model's chain of stage claims back to its source and judge it under the identity policy.

Works on plain data: ``Claim`` = a stage record plus the policy keys whose signature on it held.
Claims about the same stage, output and inputs are one stage (their signers add up toward the
threshold). From the model's digest the walk follows each stage's input models to the stage that
produced them; a stage whose input is the artifact it outputs (an approval, a scan) attests that
artifact without moving the chain.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mlvet.findings import Rule
from mlvet.provenance.lineage.policy import Policy
from mlvet.provenance.lineage.rules import (
    DIGEST_MISMATCH,
    MISSING_STAGE,
    STAGE_ORDER,
    THRESHOLD_NOT_MET,
    UNAUTHORISED_SIGNER,
)
from mlvet.provenance.lineage.statement import Artifact, StageRecord, short


@dataclass(frozen=True)
class Claim:
    """One verified envelope: its bundle line, what it says, and the policy keys that signed it."""

    line: int
    record: StageRecord
    signed_by: tuple[str, ...]


@dataclass
class StageNode:
    """One stage of the chain: the claims that agree on it and what the policy made of them."""

    claims: list[Claim]
    accepted: bool = True
    """False for a claim whose signature the policy's keys did not accept (shown, never counted)."""
    authorised: tuple[str, ...] = ()
    unauthorised: tuple[str, ...] = ()
    threshold: int | None = None
    failures: list[str] = field(default_factory=list)
    equivalence: dict[str, Any] | None = None

    @property
    def record(self) -> StageRecord:
        return self.claims[0].record

    @property
    def stage(self) -> str:
        return self.record.stage

    @property
    def lines(self) -> tuple[int, ...]:
        return tuple(c.line for c in self.claims)

    @property
    def signers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(k for c in self.claims for k in c.signed_by))

    def label(self) -> str:
        where = ", ".join(str(n) for n in self.lines)
        return f"stage {self.stage!r} (bundle line{'s' if len(self.lines) > 1 else ''} {where})"


@dataclass(frozen=True)
class Issue:
    """A reason the chain fails: a rule, a message naming the stage, and the lines it is about."""

    rule: Rule
    message: str
    line: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class Chain:
    """The stages from source to model (source first), what failed, and claims left unconnected."""

    nodes: list[StageNode]
    issues: list[Issue]
    unconnected: list[StageNode]


def walk(
    claims: Sequence[Claim],
    model_sha256: str,
    policy: Policy,
    rejected: Sequence[Claim] = (),
    unreadable: Sequence[int] = (),
) -> Chain:
    """The chain ending at the artifact ``model_sha256``, judged under ``policy``.

    ``rejected`` are claims whose signatures were not accepted (already reported as findings): they
    appear in the chain, marked as not accepted, so that the walk crosses them and the gap they
    leave is not reported a second time. ``unreadable`` are bundle lines that could not be read:
    a gap may be theirs, and the messages say so.
    """
    groups = _group(claims)
    for claim in rejected:
        node = StageNode([claim], accepted=False)
        node.failures.append(f"{node.label()}: signature not accepted")
        groups.append(node)
    walker = _Walker(groups, policy)
    issues: list[Issue] = []
    if walker.producers.get(model_sha256):
        walker.visit(model_sha256, None, None)
    elif groups:
        last = walker.last_stage()
        issues.append(_model_not_produced(model_sha256, last, unreadable))
        walker.visit(last.record.output.sha256, None, None)
    else:
        issues.append(
            Issue(
                MISSING_STAGE,
                "no verified stage attestation in the bundle; "
                f"the model ({short(model_sha256)}) has no provenance",
            )
        )
    issues += walker.issues
    for node in walker.nodes:
        if node.accepted:
            issues += _judge(node, policy)
    unconnected = [node for node in groups if id(node) not in walker.reached]
    issues += _required(walker.nodes, unconnected, policy, unreadable)
    return Chain(walker.nodes, issues, unconnected)


class _Walker:
    """Depth-first from an artifact to the stages that produced it, source stages first."""

    def __init__(self, groups: list[StageNode], policy: Policy) -> None:
        self.groups = groups
        self.policy = policy
        self.producers: dict[str, list[StageNode]] = defaultdict(list)
        for node in groups:
            self.producers[node.record.output.sha256].append(node)
        self.nodes: list[StageNode] = []
        self.reached: set[int] = set()
        self.visited: set[str] = set()
        self.issues: list[Issue] = []

    def last_stage(self) -> StageNode:
        """The stage whose output no other stage consumed (the latest such line)."""
        consumed = {
            a.sha256 for n in self.groups for a in n.record.inputs if a.sha256 != n.record.output.sha256
        }
        ends = [n for n in self.groups if n.record.output.sha256 not in consumed] or self.groups
        return max(ends, key=lambda n: (n.accepted, n.lines[-1]))

    def visit(self, digest: str, consumer: StageNode | None, via: Artifact | None) -> None:
        if digest in self.visited:
            return
        self.visited.add(digest)
        here = self.producers.get(digest, [])
        transforms = [n for n in here if digest not in {a.sha256 for a in n.record.inputs}]
        endorsements = [n for n in here if all(n is not t for t in transforms)]
        if transforms:
            chosen = max(transforms, key=lambda n: (n.accepted, len(n.signers), -n.lines[0]))
            self.reached.add(id(chosen))
            for artifact in chosen.record.inputs:
                self.visit(artifact.sha256, chosen, artifact)
            self.nodes.append(chosen)
        elif consumer is not None and via is not None and not endorsements:
            culprit = self._culprit(consumer, via)
            if culprit is not None:
                self.issues.append(_broken_link(consumer, via, culprit))
                self.visit(culprit.record.output.sha256, None, None)
        for node in endorsements:
            self.reached.add(id(node))
            self.nodes.append(node)

    def _culprit(self, consumer: StageNode, artifact: Artifact) -> StageNode | None:
        """The stage whose output ``consumer`` should have read (same name, else the policy's predecessor)."""
        free = [
            n for n in self.groups if id(n) not in self.reached and n.record.output.sha256 not in self.visited
        ]
        candidates = [n for n in free if n.record.output.name == artifact.name]
        if not candidates:
            candidates = [n for n in free if n.stage == _predecessor(consumer.stage, self.policy)]
        return max(candidates, key=lambda n: (n.accepted, n.lines[-1])) if candidates else None


def _group(claims: Sequence[Claim]) -> list[StageNode]:
    nodes: dict[tuple[str, str, tuple[str, ...]], StageNode] = {}
    for claim in claims:
        record = claim.record
        key = (record.stage, record.output.sha256, tuple(sorted(a.sha256 for a in record.inputs)))
        if key in nodes:
            nodes[key].claims.append(claim)
        else:
            nodes[key] = StageNode([claim])
    return list(nodes.values())


def _model_not_produced(model_sha256: str, last: StageNode, unreadable: Sequence[int]) -> Issue:
    cause = (
        f"{_lines_text(unreadable)} could not be read and may have recorded the stage that made it"
        if unreadable
        else "the deployed artifact was swapped after its last attested stage"
    )
    return Issue(
        DIGEST_MISMATCH,
        f"the model ({short(model_sha256)}) is not the output of any attested stage: the last one, "
        f"{last.label()}, produced {last.record.output.name} = {short(last.record.output.sha256)}; {cause}",
        last.lines[-1],
        {"model": model_sha256, "stage": last.stage, "attested_output": last.record.output.sha256},
    )


def _broken_link(consumer: StageNode, artifact: Artifact, culprit: StageNode) -> Issue:
    message = (
        f"{consumer.label()} consumed {artifact.name} = {short(artifact.sha256)}, which no attested stage "
        f"produced; {culprit.label()} produced {culprit.record.output.name} = "
        f"{short(culprit.record.output.sha256)}: the artifact between {culprit.stage!r} and "
        f"{consumer.stage!r} was swapped"
    )
    consumer.failures.append(message)
    evidence = {
        "stage": consumer.stage,
        "consumed": artifact.sha256,
        "producer": culprit.stage,
        "produced": culprit.record.output.sha256,
    }
    return Issue(DIGEST_MISMATCH, message, consumer.lines[0], evidence)


def _predecessor(stage: str, policy: Policy) -> str | None:
    if stage in policy.required:
        index = policy.required.index(stage)
        return policy.required[index - 1] if index > 0 else None
    return None


def _judge(node: StageNode, policy: Policy) -> list[Issue]:
    issues: list[Issue] = []
    rules = policy.stages.get(node.stage)
    if rules is None:
        if policy.allow_unlisted:
            node.authorised = node.signers
            return issues
        node.unauthorised = node.signers
        message = f"{node.label()} is not listed in the policy, so no key may sign it"
        node.failures.append(message)
        return [Issue(UNAUTHORISED_SIGNER, message, node.lines[0], {"stage": node.stage})]
    node.authorised = tuple(k for k in node.signers if k in rules.signers)
    node.unauthorised = tuple(k for k in node.signers if k not in rules.signers)
    node.threshold = rules.threshold
    allowed = ", ".join(policy.key_name(k) for k in rules.signers)
    for keyid in node.unauthorised:
        line = next(c.line for c in node.claims if keyid in c.signed_by)
        message = (
            f"{node.label()} is signed by {policy.key_name(keyid)}, who may not sign {node.stage!r} "
            f"(allowed: {allowed})"
        )
        node.failures.append(message)
        issues.append(Issue(UNAUTHORISED_SIGNER, message, line, {"stage": node.stage, "keyid": keyid}))
    if len(node.authorised) < rules.threshold:
        have = ", ".join(policy.key_name(k) for k in node.authorised) or "none"
        message = (
            f"{node.label()} has {len(node.authorised)} of the {rules.threshold} distinct authorised "
            f"signatures it needs (signed by: {have}; allowed: {allowed})"
        )
        node.failures.append(message)
        evidence = {"stage": node.stage, "signed": list(node.authorised), "threshold": rules.threshold}
        issues.append(Issue(THRESHOLD_NOT_MET, message, node.lines[0], evidence))
    return issues


def _lines_text(lines: Sequence[int]) -> str:
    return f"bundle line{'s' if len(lines) > 1 else ''} {', '.join(str(n) for n in lines)}"


def _required(
    nodes: Sequence[StageNode], unconnected: Sequence[StageNode], policy: Policy, unreadable: Sequence[int]
) -> list[Issue]:
    issues: list[Issue] = []
    order = [n.stage for n in nodes]
    for stage in policy.required:
        if stage in order:
            continue
        stray = next((n for n in unconnected if n.stage == stage), None)
        detail = f"; {stray.label()} exists but its output is not part of this model's chain" if stray else ""
        if not stray and unreadable:
            detail = f" ({_lines_text(unreadable)} could not be read)"
        issues.append(
            Issue(
                MISSING_STAGE,
                f"required stage {stage!r} is missing from the model's chain{detail}",
                stray.lines[0] if stray is not None else None,
                {"stage": stage},
            )
        )
    present = [s for s in policy.required if s in order]
    positions = [order.index(s) for s in present]
    if positions != sorted(positions):
        issues.append(
            Issue(
                STAGE_ORDER,
                f"the chain runs {' -> '.join(order)}, "
                f"but the policy requires {' -> '.join(policy.required)}",
                None,
                {"chain": order, "required": list(policy.required)},
            )
        )
    return issues
