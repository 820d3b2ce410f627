"""Cross-check with the static scan: confirm static findings the run proved, report what the scan missed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from mlvet.findings import Finding, Severity, Subject
from mlvet.sandbox import rules
from mlvet.scan.pickle.globals_policy import judge

ACTION_RULES = frozenset(
    {
        rules.PROCESS.id,
        rules.NETWORK.id,
        rules.FILE_WRITE.id,
        rules.CODE.id,
        rules.DANGEROUS_IMPORT.id,
        rules.NATIVE.id,
        rules.EVASION.id,
        rules.ENVIRONMENT.id,
        rules.DANGEROUS_GLOBAL.id,
        rules.CRASH.id,
    }
)
"""Dynamic findings that show the file doing something (limits and timeouts do not)."""


def resolved_globals(events: Sequence[dict[str, object]]) -> set[str]:
    """``module.name`` of every global the loader resolved, as written and as the policy resolves it."""
    names: set[str] = set()
    for event in events:
        args = event.get("a")
        if event.get("e") != "pickle.find_class" or not isinstance(args, list) or len(args) < 2:
            continue
        module, name = str(args[0]), str(args[1])
        names.add(f"{module}.{name}")
        names.add(judge(module, name).qualified)
    return names


def confirm(static: Sequence[Finding], dynamic: Sequence[Finding], resolved: set[str]) -> list[Finding]:
    """``static`` with ``confirmed=True`` on each finding the run proved, saying how."""
    actions = [f for f in dynamic if f.rule.id in ACTION_RULES]
    marked: list[Finding] = []
    for finding in static:
        named = f"{finding.evidence.get('module')}.{finding.evidence.get('name')}"
        if "module" in finding.evidence and named in resolved:
            how = f"the loader resolved {named} (pickle.find_class)"
        elif finding.severity >= Severity.HIGH and actions:
            how = f"the load did {actions[0].rule.id} ({actions[0].rule.title.lower()})"
        else:
            marked.append(finding)
            continue
        evidence = {**finding.evidence, "confirmed_by": how}
        marked.append(replace(finding, confirmed=True, evidence=evidence))
    return marked


def static_gap(subject: Subject, static: Sequence[Finding], dynamic: Sequence[Finding]) -> Finding | None:
    """MLV3014 when the run did something dangerous and the static scan said nothing at high or above."""
    actions = [f for f in dynamic if f.rule.id in ACTION_RULES and f.severity >= Severity.HIGH]
    if not actions or any(f.severity >= Severity.HIGH for f in static):
        return None
    seen = sorted({f.rule.id for f in actions})
    return Finding(
        rule=rules.STATIC_GAP,
        severity=rules.STATIC_GAP.severity,
        subject=subject,
        location=actions[0].location,
        message=f"the load did {', '.join(seen)} but the static scan reported nothing at high or above; "
        "add this file to the scan corpus as a test case",
        evidence={"dynamic_rules": seen, "first": actions[0].message, "static_findings": len(static)},
        confirmed=True,
    )
