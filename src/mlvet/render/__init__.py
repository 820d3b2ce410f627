"""Renderers turn a ``Report`` into text; they never decide anything."""

from __future__ import annotations

import enum
from typing import assert_never

from mlvet.findings import Report, Rule
from mlvet.render import json_report, sarif, table


class OutputFormat(enum.Enum):
    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"


def render(
    report: Report, output_format: OutputFormat, rules: dict[str, Rule], *, color: bool = False
) -> str:
    """``report`` as text in ``output_format``; ``rules`` is the catalogue SARIF declares."""
    if output_format is OutputFormat.TABLE:
        return table.render(report, color=color)
    if output_format is OutputFormat.JSON:
        return json_report.render(report)
    if output_format is OutputFormat.SARIF:
        return sarif.render(report, rules)
    assert_never(output_format)
