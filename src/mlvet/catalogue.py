"""The rule catalogue of every capability: what `mlvet rules`, SARIF and ``docs/rules.md`` list."""

from __future__ import annotations

from mlvet.diff.rules import RULES as DIFF_RULES
from mlvet.env.audit.rules import RULES as AUDIT_RULES
from mlvet.env.rules import RULES as ENV_RULES
from mlvet.findings import Rule
from mlvet.gate.rules import RULES as GATE_RULES
from mlvet.probe.rules import RULES as PROBE_RULES
from mlvet.provenance.lineage.rules import RULES as LINEAGE_RULES
from mlvet.provenance.rules import RULES as PROVENANCE_RULES
from mlvet.sandbox.rules import RULES as SANDBOX_RULES
from mlvet.scan import RULE_MODULES as SCAN_RULES

FAMILIES: tuple[tuple[Rule, ...], ...] = (
    *SCAN_RULES,
    PROBE_RULES,
    PROVENANCE_RULES,
    LINEAGE_RULES,
    ENV_RULES,
    AUDIT_RULES,
    SANDBOX_RULES,
    DIFF_RULES,
    GATE_RULES,
)


def all_rules() -> dict[str, Rule]:
    """Every rule by ID, in catalogue order (``Rule.order``)."""
    rules = {rule.id: rule for family in FAMILIES for rule in family}
    return {rule.id: rule for rule in sorted(rules.values(), key=lambda rule: rule.order)}
