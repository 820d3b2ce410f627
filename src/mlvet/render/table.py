"""The human view: a table of findings, then problems, then a one-line verdict."""

from __future__ import annotations

import io
import shutil
from collections import Counter

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mlvet.findings import Report, Severity

_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def render(report: Report, *, color: bool = False, width: int | None = None) -> str:
    """The report as a table; ``width`` defaults to ``$COLUMNS``, the terminal's width, or 160."""
    width = width or shutil.get_terminal_size((160, 24)).columns
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, no_color=not color, width=width, highlight=False)
    if report.findings:
        console.print(_findings_table(report))
    if report.problems:
        console.print(_problems_table(report))
    console.print(_summary(report))
    return buffer.getvalue()


# Messages and paths quote attacker-controlled text: cells are ``Text`` so rich never reads markup in them.


def _findings_table(report: Report) -> Table:
    table = Table(title="Findings", title_justify="left", expand=False, show_lines=False)
    table.add_column("Severity", no_wrap=True)
    table.add_column("Rule", no_wrap=True)
    table.add_column("Where", overflow="fold")
    table.add_column("Message", overflow="fold")
    for finding in report.findings:
        where = finding.subject.display
        detail = finding.location.describe()
        table.add_row(
            Text(str(finding.severity).upper(), style=_STYLE[finding.severity]),
            finding.rule.id,
            Text(f"{where}\n{detail}" if detail else where),
            Text(finding.message),
        )
    return table


def _problems_table(report: Report) -> Table:
    table = Table(title="Not fully scanned", title_justify="left")
    table.add_column("Kind", no_wrap=True)
    table.add_column("Where", overflow="fold")
    table.add_column("Reason", overflow="fold")
    for problem in report.problems:
        table.add_row(problem.kind.value, Text(problem.subject.display), Text(problem.message))
    return table


def _summary(report: Report) -> Text:
    files = len({s.path for s in report.subjects})
    counts = Counter(f.severity for f in report.findings)
    parts = [f"{counts[s]} {s}" for s in reversed(Severity) if counts[s]]
    text = f"Scanned {files} file{'s' if files != 1 else ''} ({len(report.subjects)} subjects): "
    text += f"{len(report.findings)} finding{'s' if len(report.findings) != 1 else ''}"
    text += f" ({', '.join(parts)})" if parts else ""
    if report.problems:
        text += f", {len(report.problems)} not fully scanned"
    if report.suppressed:
        text += f", {report.suppressed} suppressed"
    return Text(text + ".")
