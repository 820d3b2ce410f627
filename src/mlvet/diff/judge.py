"""Turn a structured diff into findings (rules in ``diff.rules``) and the JSON ``details`` payload."""

from __future__ import annotations

import math
from pathlib import PurePosixPath
from typing import Any

from mlvet.diff import rules
from mlvet.diff.documents import MAX_CHANGES
from mlvet.diff.engine import DiffResult
from mlvet.diff.tensors import TensorDelta, json_float
from mlvet.diff.topology import TopologyChanges, gate_dict
from mlvet.findings import Finding, Location, Rule, Severity, Subject

MAX_LISTED = 20
"""Names listed in one finding's message/evidence."""
OUTLIER_IQR = 3.0
"""A changed tensor is an outlier when its relative L2 exceeds Q3 + this many interquartile ranges."""
CODE_SUFFIXES = frozenset({".py", ".pyc", ".so", ".dll", ".dylib", ".sh", ".pkl", ".pickle"})


def judge(result: DiffResult, subject: Subject) -> list[Finding]:
    findings: list[Finding] = []

    def add(rule: Rule, message: str, *, severity: Severity | None = None, **where: Any) -> None:
        evidence = where.pop("evidence", {})
        findings.append(
            Finding(
                rule,
                rule.severity if severity is None else severity,
                subject,
                Location(**where),
                message,
                evidence,
            )
        )

    for name, changes in result.topology.items():
        _topology_findings(name, changes, add)
    _tensor_findings(result, add)
    _document_findings(result, add)
    return findings


def _names(nodes: Any) -> str:
    listed = [n.name for n in nodes][:MAX_LISTED]
    more = len(nodes) - len(listed)
    return ", ".join(listed) + (f" (+{more} more)" if more > 0 else "")


def _topology_findings(member: str, changes: TopologyChanges, add: Any) -> None:
    for gate in changes.new_gates:
        nodes = (gate.join_node, *gate.trigger_nodes)
        add(
            rules.NEW_TRIGGER_SUBGRAPH,
            f"new {gate.kind.value} gate at {gate.join_node!r}: {gate.predicate} switches "
            f"{', '.join(gate.outputs) or 'an intermediate value'} "
            f"(trigger nodes: {', '.join(gate.trigger_nodes[:8])}"
            f"{' ...' if len(gate.trigger_nodes) > 8 else ''})",
            member=member,
            nodes=nodes[:MAX_LISTED],
            evidence=gate_dict(gate),
        )
    for node in changes.new_control_flow:
        add(
            rules.NEW_CONTROL_FLOW,
            f"{node.op_type} node {node.name!r} is new in the candidate",
            member=member,
            nodes=(node.name,),
            evidence=node.to_dict(),
        )
    for output in changes.outputs:
        side_path = bool(output.from_inputs)
        before = output.before.name if output.before else "nothing"
        after = f"{output.after.op_type} node {output.after.name!r}" if output.after else "nothing"
        add(
            rules.REWIRED_LATE_NODE,
            f"graph output {output.position} ({output.name!r}) was produced by {before!r}, now by {after}"
            + (
                f", which reads graph input(s) {', '.join(output.from_inputs)} through new nodes only"
                if side_path
                else ""
            ),
            severity=Severity.HIGH if side_path else None,
            member=member,
            nodes=tuple(n.name for n in (output.after, output.before) if n is not None),
            evidence=output.to_dict(),
        )
    for rewiring in changes.rewired:
        if not rewiring.late:
            continue
        side_path = bool(rewiring.from_inputs)
        add(
            rules.REWIRED_LATE_NODE,
            f"late node {rewiring.node.name!r} ({rewiring.node.op_type}) input {rewiring.slot} read "
            f"{rewiring.before}, now {rewiring.after}"
            + (f" (a side path from graph input(s) {', '.join(rewiring.from_inputs)})" if side_path else ""),
            severity=Severity.HIGH if side_path else None,
            member=member,
            nodes=(rewiring.node.name,),
            evidence=rewiring.to_dict(),
        )
    for change in changes.inputs:
        add(
            rules.MODEL_INPUTS_CHANGED,
            f"graph input {change.position} ({change.name!r}) {change.change}: "
            f"{change.before or '-'} -> {change.after or '-'}",
            member=member,
            evidence=change.to_dict(),
        )
    early = [r for r in changes.rewired if not r.late]
    if changes.added or changes.removed or early:
        parts = []
        if changes.added:
            parts.append(f"{len(changes.added)} added ({_names(changes.added)})")
        if changes.removed:
            parts.append(f"{len(changes.removed)} removed ({_names(changes.removed)})")
        if early:
            parts.append(f"{len(early)} input(s) rewired ({_names([r.node for r in early])})")
        add(
            rules.NODES_CHANGED,
            f"nodes matched by structure: {len(changes.pairs)} of {changes.known_good_nodes} known-good; "
            + "; ".join(parts),
            member=member,
            nodes=tuple(n.name for n in changes.added[:MAX_LISTED]),
            evidence={
                "added": [n.to_dict() for n in changes.added[:MAX_LISTED]],
                "removed": [n.to_dict() for n in changes.removed[:MAX_LISTED]],
                "rewired": [r.to_dict() for r in early[:MAX_LISTED]],
            },
        )
    for quant in changes.quantization:
        add(
            rules.QUANTIZATION_CHANGED,
            f"{quant.node.op_type} node {quant.node.name!r} {quant.parameter}: "
            f"{quant.before} -> {quant.after}",
            member=member,
            nodes=(quant.node.name,),
            evidence=quant.to_dict(),
        )


def outliers(deltas: list[TensorDelta]) -> set[str]:
    """Changed tensors whose relative L2 lies far above the others' (Q3 + 3 IQR, at least 4 changed)."""
    changed = [d for d in deltas if d.status == "changed" and math.isfinite(d.rel_l2)]
    if len(changed) < 4:
        return set()
    values = sorted(d.rel_l2 for d in changed)
    q1, q3 = values[len(values) // 4], values[(3 * len(values)) // 4]
    limit = q3 + OUTLIER_IQR * (q3 - q1)
    return {d.name for d in changed if d.rel_l2 > limit and d.rel_l2 > 0}


def _tensor_findings(result: DiffResult, add: Any) -> None:
    tolerance = result.tolerance
    beyond = [d for d in result.tensors if d.status == "changed" and d.rel_l2 > tolerance.rel_l2]
    if beyond:
        ranked = sorted(beyond, key=lambda d: d.rel_l2, reverse=True)
        top = ", ".join(f"{d.name} ({_pretty(d.rel_l2)})" for d in ranked[:5])
        flagged = sorted(outliers(result.tensors))
        add(
            rules.TENSOR_CHANGED,
            f"{len(beyond)} of {len(result.tensors)} tensors changed beyond "
            f"relative L2 {tolerance.rel_l2:g}; "
            f"largest: {top}" + (f"; outliers: {', '.join(flagged[:5])}" if flagged else ""),
            evidence={
                "tensors": [d.name for d in ranked[:MAX_LISTED]],
                "rel_l2": [json_float(d.rel_l2) for d in ranked[:MAX_LISTED]],
                "outliers": flagged[:MAX_LISTED],
            },
        )
    quant = [d for d in result.tensors if d.status == "retyped" and _quant_type_change(d)]
    for delta in quant:
        measured = (
            f" (dequantized values: rel. L2 {_pretty(delta.rel_l2)})" if delta.compared == "values" else ""
        )
        add(
            rules.QUANTIZATION_CHANGED,
            f"tensor {delta.name!r} quantization type {delta.dtype_before} -> {delta.dtype_after}{measured}",
            evidence=delta.to_dict(),
        )
    for status in ("added", "removed", "reshaped", "retyped"):
        group = [d for d in result.tensors if d.status == status and d not in quant]
        if not group:
            continue
        listed = ", ".join(f"{d.name} {_shape(d)}" for d in group[:MAX_LISTED])
        more = f" (+{len(group) - MAX_LISTED} more)" if len(group) > MAX_LISTED else ""
        add(
            rules.TENSOR_SET_CHANGED,
            f"{len(group)} tensor(s) {status}: {listed}{more}",
            evidence={"status": status, "tensors": [d.to_dict() for d in group[:MAX_LISTED]]},
        )


def _quant_type_change(delta: TensorDelta) -> bool:
    """A dtype change that involves a quantized (block) type on either side."""
    plain = {"float32", "float16", "bfloat16", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"}
    return not (delta.dtype_before in plain and delta.dtype_after in plain)


def _shape(delta: TensorDelta) -> str:
    def one(dtype: str | None, shape: tuple[int, ...] | None) -> str:
        return "-" if shape is None else f"{dtype}{list(shape)}"

    if delta.status in ("reshaped", "retyped"):
        return f"{one(delta.dtype_before, delta.shape_before)} -> {one(delta.dtype_after, delta.shape_after)}"
    if delta.status == "added":
        return one(delta.dtype_after, delta.shape_after)
    return one(delta.dtype_before, delta.shape_before)


def _pretty(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else str(value)


def _document_findings(result: DiffResult, add: Any) -> None:
    for template in result.templates:
        dangerous = bool(template.new_constructs)
        add(
            rules.CHAT_TEMPLATE_CHANGED,
            f"chat template {template.name!r} {template.status}"
            + (
                f"; it gains code-like constructs: {'; '.join(template.new_constructs[:3])}"
                if dangerous
                else ""
            ),
            severity=Severity.HIGH if dangerous else None,
            pointer=f"/chat_template/{template.name}",
            evidence=template.to_dict(),
        )
    for role, change in result.special_tokens:
        add(
            rules.SPECIAL_TOKENS_CHANGED,
            f"{role} {change.pointer} {change.change}: {_value(change.before)} -> {_value(change.after)}",
            member=role,
            pointer=change.pointer,
            evidence=change.to_dict(),
        )
    if result.vocabulary is not None:
        vocab = result.vocabulary
        add(
            rules.VOCABULARY_CHANGED,
            f"vocabulary {vocab.size_before} -> {vocab.size_after} tokens: {len(vocab.added)} added, "
            f"{len(vocab.removed)} removed, {len(vocab.reassigned)} given another id",
            evidence=vocab.to_dict(),
        )
    for role, change in result.remote_code:
        add(
            rules.CONFIG_CHANGED,
            f"{role} {change.pointer} {change.change}: the candidate loads code from the repository "
            f"({_value(change.after)})",
            severity=Severity.HIGH,
            member=role,
            pointer=change.pointer,
            evidence=change.to_dict(),
        )
    special = {(role, id(change)) for role, change in result.special_tokens}
    remote = {(role, id(change)) for role, change in result.remote_code}
    for role, changes in result.documents.items():
        rest = [c for c in changes if (role, id(c)) not in special and (role, id(c)) not in remote]
        if not rest:
            continue
        shown = "; ".join(f"{c.pointer} {c.change}" for c in rest[:5])
        add(
            rules.CONFIG_CHANGED,
            f"{role}: {len(rest)} change(s): {shown}" + (" ..." if len(rest) > 5 else ""),
            member=role,
            evidence={"changes": [c.to_dict() for c in rest[:MAX_LISTED]]},
        )
    code = [f for f in result.files_added if PurePosixPath(f).suffix.lower() in CODE_SUFFIXES]
    if code:
        add(
            rules.FILES_CHANGED,
            f"{len(code)} code file(s) added: {', '.join(code[:MAX_LISTED])}",
            severity=Severity.HIGH,
            evidence={"added": code},
        )
    other = [f for f in result.files_added if f not in code]
    if other or result.files_removed:
        add(
            rules.FILES_CHANGED,
            f"{len(other)} file(s) added, {len(result.files_removed)} removed: "
            + ", ".join([*(f"+{f}" for f in other[:10]), *(f"-{f}" for f in result.files_removed[:10])]),
            evidence={"added": other, "removed": result.files_removed},
        )


def _value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def details(result: DiffResult) -> dict[str, Any]:
    """The JSON ``details`` of a diff report (keys documented in ``docs/diff.md``)."""
    tensors = sorted(result.tensors, key=lambda d: d.order)
    counts = dict.fromkeys(("unchanged", "changed", "added", "removed", "reshaped", "retyped"), 0)
    for delta in tensors:
        counts[delta.status] += 1
    flagged = outliers(tensors)
    return {
        "known_good": {
            "path": str(result.known_good.path),
            "kind": result.known_good.kind,
            "weights": result.known_good.weight_format,
        },
        "candidate": {
            "path": str(result.candidate.path),
            "kind": result.candidate.kind,
            "weights": result.candidate.weight_format,
        },
        "tolerance": {"rel_l2": result.tolerance.rel_l2, "atol": result.tolerance.atol},
        "summary": {
            "tensors": {
                **counts,
                "compared": len(tensors),
                "beyond_tolerance": sum(
                    1 for d in tensors if d.status == "changed" and d.rel_l2 > result.tolerance.rel_l2
                ),
            },
            "topology_changed": any(not t.unchanged for t in result.topology.values()),
            "new_gates": sum(len(t.new_gates) for t in result.topology.values()),
            "documents_changed": {role: len(changes) for role, changes in sorted(result.documents.items())},
            "templates_changed": [t.name for t in result.templates],
            "special_tokens_changed": len(result.special_tokens),
        },
        "tensors": [{**d.to_dict(), "outlier": d.name in flagged} for d in tensors],
        "topology": {name: changes.to_dict() for name, changes in result.topology.items()},
        "documents": {
            role: [c.to_dict() for c in changes[:MAX_CHANGES]] for role, changes in result.documents.items()
        },
        "special_tokens": [{"document": role, **c.to_dict()} for role, c in result.special_tokens],
        "chat_templates": [t.to_dict() for t in result.templates],
        "vocabulary": result.vocabulary.to_dict() if result.vocabulary else None,
        "files": {
            "added": result.files_added,
            "removed": result.files_removed,
            "changed": result.files_changed,
        },
        "problems": list(result.problems),
    }
