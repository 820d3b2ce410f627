"""Turn what the interpreter saw into findings: grouped, bounded, emitted when a stream ends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlvet.findings import Location, Rule, Severity
from mlvet.scan.base import ScanContext
from mlvet.scan.pickle.globals_policy import Verdict
from mlvet.scan.pickle.rules import (
    DANGEROUS_CALL,
    DANGEROUS_IMPORT,
    RESOURCE_ABUSE,
    UNKNOWN_CALL,
    UNRESOLVABLE_GLOBAL,
    UNVERIFIED_IMPORT,
)
from mlvet.scan.pickle.values import Global, OpRef, describe

MAX_GROUPS = 1000
"""Distinct findings kept per stream; a stream naming more distinct globals gets one summary finding."""
MORE_LOCATIONS = 5
"""Further occurrences of one (rule, name) listed in the evidence of its single finding."""


@dataclass
class _Group:
    rule: Rule
    severity: Severity | None
    message: str
    location: Location
    evidence: dict[str, Any]
    count: int = 0
    more: list[dict[str, Any]] = field(default_factory=list)


class Reporter:
    """Findings of one pickle stream, buffered so repeated occurrences become one grouped finding."""

    def __init__(self, ctx: ScanContext, stream: int, stream_offset: int) -> None:
        self.ctx = ctx
        self.stream = stream
        self.stream_offset = stream_offset
        self._groups: dict[tuple[str, str], _Group] = {}
        self._referenced: dict[str, Global] = {}
        self._called: set[str] = set()
        self._dropped = 0
        self._dropped_worst = Severity.INFO

    def _drop(self, severity: Severity) -> None:
        self._dropped += 1
        self._dropped_worst = max(self._dropped_worst, severity)

    def note(
        self,
        rule: Rule,
        key: str,
        message: str,
        origin: OpRef,
        evidence: dict[str, Any] | None = None,
        severity: Severity | None = None,
    ) -> None:
        """Record one occurrence of ``rule`` for ``key`` (a name or a structural kind)."""
        opcode, offset, index = origin
        group = self._groups.get((rule.id, key))
        if group is None and len(self._groups) >= MAX_GROUPS:
            self._drop(severity or rule.severity)
            return
        if group is None:
            details = {"opcode": opcode, "stream": self.stream, **(evidence or {})}
            location = Location(offset=offset, opcode_index=index)
            group = self._groups[(rule.id, key)] = _Group(rule, severity, message, location, details)
        elif len(group.more) < MORE_LOCATIONS:
            other: dict[str, Any] = {"offset": offset, "opcode_index": index}
            if evidence and "args" in evidence:
                other["args"] = evidence["args"]
            group.more.append(other)
        group.count += 1

    def referenced(self, item: Global) -> None:
        """A dangerous, unknown or unresolvable global appeared; reported at the end unless called."""
        if len(self._referenced) < MAX_GROUPS:
            self._referenced.setdefault(item.qualified, item)
        elif item.qualified not in self._referenced:
            dangerous = item.judgement is None or item.judgement.verdict is Verdict.DANGEROUS
            self._drop(Severity.HIGH if dangerous else Severity.MEDIUM)

    def mark_reported(self, item: Global) -> None:
        """``item`` already has its own finding: no "imports" finding for it at the end."""
        self._called.add(item.qualified)

    def called(self, item: Global, args: Any, origin: OpRef, via: str = "", result: bool = False) -> None:
        """``item`` (or, with ``result``, what it returned) is invoked: MLV101 when dangerous, MLV106
        when unresolvable, MLV103 otherwise."""
        self._called.add(item.qualified)
        judgement = item.judgement
        opcode, _, index = item.origin
        how = f"via {opcode} at opcode {index}" + (f", {via}" if via else "")
        target = f"the object returned by {item.qualified}" if result else item.qualified
        key = f"{item.qualified}()" if result else item.qualified
        evidence = _global_evidence(item)
        evidence["call_opcode"] = origin[0]
        if args is not None:
            evidence["args"] = describe(args)
        if judgement is None and "ext" in item.how:
            return  # MLV107 already names the extension opcode
        if judgement is None:
            detail = f"; {item.written}" if item.written else ""
            message = f"calls a global whose name cannot be resolved ({how}{detail})"
            self.note(UNRESOLVABLE_GLOBAL, key, message, origin, evidence)
        elif judgement.verdict is Verdict.DANGEROUS:
            args_text = f" with {evidence['args']}" if args is not None else ""
            self.note(DANGEROUS_CALL, key, f"calls {target}{args_text} ({how})", origin, evidence)
        else:
            message = f"calls {target}, which is not on the allowlist ({how})"
            self.note(UNKNOWN_CALL, key, message, origin, evidence)

    def flush(self) -> None:
        """Emit everything recorded for this stream."""
        for item in self._referenced.values():
            if item.qualified in self._called or (item.judgement is None and "ext" in item.how):
                continue
            self._reference_finding(item)
        for group in self._groups.values():
            evidence = group.evidence
            message = group.message
            if group.count > 1:
                evidence = {**evidence, "occurrences": group.count, "other_occurrences": group.more}
                message = f"{message} [{group.count} occurrences]"
            self.ctx.report(
                group.rule, message, location=group.location, evidence=evidence, severity=group.severity
            )
        if self._dropped:
            self.ctx.report(
                RESOURCE_ABUSE,
                f"{self._dropped} further findings in stream {self.stream} were not listed individually "
                f"(the worst of them {self._dropped_worst})",
                location=Location(offset=self.stream_offset),
                evidence={"stream": self.stream, "unlisted": self._dropped},
                severity=max(Severity.MEDIUM, self._dropped_worst),
            )
        self._groups.clear()
        self._referenced.clear()
        self._dropped = 0
        self._dropped_worst = Severity.INFO

    def _reference_finding(self, item: Global) -> None:
        opcode, offset, index = item.origin
        location = Location(offset=offset, opcode_index=index)
        evidence = {"opcode": opcode, "stream": self.stream, **_global_evidence(item)}
        judgement = item.judgement
        if judgement is None:
            detail = f"; {item.written}" if item.written else ""
            rule, message = (
                UNRESOLVABLE_GLOBAL,
                f"imports a global whose name cannot be resolved ({opcode} at opcode {index}{detail})",
            )
        elif judgement.verdict is Verdict.DANGEROUS:
            rule, message = (
                DANGEROUS_IMPORT,
                f"imports {item.qualified} ({opcode} at opcode {index}) without calling it directly",
            )
        else:
            rule, message = (
                UNVERIFIED_IMPORT,
                f"imports unverified global {item.qualified} ({opcode} at opcode {index})",
            )
        self.ctx.report(rule, message, location=location, evidence=evidence)


def _global_evidence(item: Global) -> dict[str, Any]:
    judgement = item.judgement
    evidence: dict[str, Any] = {"resolved_via": list(item.how)}
    if item.written:
        evidence["written_as"] = item.written
    if judgement is not None:
        evidence["module"] = judgement.module
        evidence["name"] = judgement.name
        evidence["resolved_via"] = sorted({*item.how, *judgement.resolved_via})
    return evidence
