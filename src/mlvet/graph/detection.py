"""A detected gate together with the rule it falls under."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlvet.findings import Rule, Severity
from mlvet.graph.gates import Gate


@dataclass(frozen=True)
class Detection:
    """A gate, the rule it falls under and the severity to report (HIGH with a payload, else MEDIUM)."""

    gate: Gate
    rule: Rule
    severity: Severity
    details: dict[str, Any] = field(default_factory=dict)
