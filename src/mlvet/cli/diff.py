"""Compare a candidate model with a known-good one: weights, graph topology, config and tokenizer."""

from __future__ import annotations

import argparse
import io
import math
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from mlvet.catalogue import all_rules
from mlvet.cli.exit_codes import ExitCode
from mlvet.cli.output import emit, write_text
from mlvet.diff import Tolerance, diff
from mlvet.diff.engine import Progress as ProgressCallback
from mlvet.diff.html import render_html
from mlvet.errors import ConfigError
from mlvet.findings import Report, Severity

FORMATS = ("table", "json", "sarif", "html")
_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
TOP_TENSORS = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "known_good", type=Path, metavar="KNOWN_GOOD", help="the trusted model (file or HF directory)"
    )
    parser.add_argument("candidate", type=Path, metavar="CANDIDATE", help="the model to check against it")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=Tolerance.rel_l2,
        metavar="REL_L2",
        help=f"relative L2 change per tensor above which it is reported (default: {Tolerance.rel_l2:g})",
    )
    parser.add_argument(
        "--atol",
        type=float,
        default=Tolerance.atol,
        metavar="ABS",
        help="an element counts as changed when |delta| exceeds this (default: 0, any change)",
    )
    parser.add_argument(
        "--fail-on",
        default="high",
        metavar="SEVERITY",
        help="exit 1 when a finding reaches this severity: info|low|medium|high|critical (default: high)",
    )
    parser.add_argument(
        "-f", "--format", choices=FORMATS, default="table", help="output format (default: table)"
    )
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the report to FILE")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    try:
        fail_on = Severity.parse(args.fail_on)
    except ValueError as exc:
        raise ConfigError(f"--fail-on: {exc}") from None
    if not (
        math.isfinite(args.tolerance) and args.tolerance >= 0 and math.isfinite(args.atol) and args.atol >= 0
    ):
        raise ConfigError(
            "--tolerance and --atol must be finite and not negative", hint="e.g. --tolerance 0.01 --atol 1e-6"
        )
    tolerance = Tolerance(rel_l2=args.tolerance, atol=args.atol)
    with _progress(show=not args.quiet and sys.stderr.isatty()) as advance:
        report = diff(args.known_good, args.candidate, tolerance=tolerance, progress=advance)
    if args.format == "html":
        write_text(render_html(report), args.output)
    elif args.format == "table":
        color = args.output is None and sys.stdout.isatty()
        write_text(render_table(report, color=color), args.output)
    else:
        rules = all_rules()
        rules.update({f.rule.id: f.rule for f in report.findings})
        emit(report, args, rules)
    return exit_code(report, fail_on)


def exit_code(report: Report, fail_on: Severity) -> int:
    """2 when part of either side could not be compared, else 1 when a finding reaches ``fail_on``."""
    if report.problems:
        return ExitCode.UNDECIDED
    return ExitCode.NO if report.at_or_above(fail_on) else ExitCode.PASSED


@contextmanager
def _progress(*, show: bool) -> Iterator[ProgressCallback | None]:
    if not show:
        yield None
        return
    columns = (TextColumn("comparing tensors"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task("", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield advance


def render_table(report: Report, *, color: bool = False, width: int | None = None) -> str:
    """The human view: what was compared, the findings, the most changed tensors, a verdict."""
    width = width or shutil.get_terminal_size((160, 24)).columns
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, no_color=not color, width=width, highlight=False)
    details: dict[str, Any] = dict(report.details)
    known, candidate = details.get("known_good", {}), details.get("candidate", {})
    console.print(Text(f"known-good  {known.get('path')} ({known.get('kind')})"))
    console.print(Text(f"candidate   {candidate.get('path')} ({candidate.get('kind')})"))
    counts = details.get("summary", {}).get("tensors", {})
    console.print(
        Text(
            f"tensors     {counts.get('compared', 0)}: {counts.get('unchanged', 0)} identical, "
            f"{counts.get('changed', 0)} changed ({counts.get('beyond_tolerance', 0)} beyond rel. L2 "
            f"{details.get('tolerance', {}).get('rel_l2')}), {counts.get('added', 0)} added, "
            f"{counts.get('removed', 0)} removed, {counts.get('reshaped', 0)} reshaped, "
            f"{counts.get('retyped', 0)} retyped"
        )
    )
    for member, topo in details.get("topology", {}).items():
        console.print(
            Text(
                f"graph       {member}: {topo['matched']} of {topo['known_good_nodes']} nodes matched by "
                f"structure, {len(topo['added'])} added, {len(topo['removed'])} removed, "
                f"{len(topo['rewired'])} inputs rewired, {len(topo['outputs'])} outputs rewired, "
                f"{len(topo['new_gates'])} new gate(s)"
            )
        )
    console.print()
    if report.findings:
        table = Table(title="Findings", title_justify="left")
        table.add_column("Severity", no_wrap=True)
        table.add_column("Rule", no_wrap=True)
        table.add_column("Message", overflow="fold")
        for finding in sorted(report.findings, key=lambda f: -f.severity):
            where = finding.location.describe()
            table.add_row(
                Text(str(finding.severity).upper(), style=_STYLE[finding.severity]),
                finding.rule.id,
                Text(finding.message + (f"\n@ {where}" if where else "")),
            )
        console.print(table)
    changed = [t for t in details.get("tensors", []) if t.get("status") == "changed"]
    if changed:
        changed.sort(key=lambda t: -_float(t.get("rel_l2")))
        table = Table(title="Most changed tensors", title_justify="left")
        for column in ("Tensor", "rel. L2", "max |Δ|", "changed"):
            table.add_column(column, overflow="fold")
        for tensor in changed[:TOP_TENSORS]:
            table.add_row(
                Text(str(tensor["name"]) + (" (outlier)" if tensor.get("outlier") else "")),
                _show(tensor.get("rel_l2")),
                _show(tensor.get("max_abs_delta")),
                f"{_float(tensor.get('changed_fraction')):.1%}",
            )
        console.print(table)
    for problem in report.problems:
        console.print(Text(f"not compared: {problem.message}", style="yellow"))
    tally = Counter(f.severity for f in report.findings)
    parts = ", ".join(f"{tally[s]} {s}" for s in reversed(Severity) if tally[s])
    console.print(Text(f"{len(report.findings)} finding(s)" + (f" ({parts})" if parts else "") + "."))
    return buffer.getvalue()


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _show(value: Any) -> str:
    number = _float(value)
    return f"{number:.3g}" if math.isfinite(number) else str(value)
