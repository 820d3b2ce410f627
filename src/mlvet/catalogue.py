"""The rule catalogue of every capability: what `mlvet rules`, SARIF and ``docs/rules.md`` list."""

from __future__ import annotations

from mlvet.findings import Rule
from mlvet.probe.rules import RULES as PROBE_RULES
from mlvet.scan import RULE_MODULES as SCAN_RULES

FAMILIES: tuple[tuple[Rule, ...], ...] = (*SCAN_RULES, PROBE_RULES)


def all_rules() -> dict[str, Rule]:
    """Every rule by ID, in ID order."""
    rules = {rule.id: rule for family in FAMILIES for rule in family}
    return dict(sorted(rules.items()))
