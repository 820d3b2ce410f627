"""Audit the installed environment against ML advisories, index configuration and typosquats."""

from __future__ import annotations

import argparse
import io
import shutil
import sys
from collections import Counter
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mlvet.cli.exit_codes import ExitCode
from mlvet.cli.output import add_output_arguments, emit_summary
from mlvet.env.audit import audit_environment, load_database, update_database
from mlvet.env.audit.database import AdvisoryDatabase
from mlvet.env.audit.indexes import pip_config, uv_config
from mlvet.env.target import current_environment, environment_at, environment_of
from mlvet.errors import ConfigError
from mlvet.findings import Report, Severity

_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mlvet env audit``."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--path",
        type=Path,
        action="append",
        metavar="SITE_PACKAGES",
        help="audit this site-packages (repeatable)",
    )
    where.add_argument(
        "--python", type=Path, metavar="PATH", help="audit the environment of this interpreter"
    )
    add_database_arguments(parser)
    parser.add_argument(
        "--models",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="look for model files here (repeatable; default: HF/torch/Keras caches and cwd)",
    )
    parser.add_argument("--no-model-search", action="store_true", help="do not look for model files")
    parser.add_argument(
        "--import",
        dest="imports",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="merge a 'pip-audit -f json' or 'osv-scanner --format json' report (repeatable)",
    )
    add_policy_arguments(parser)


def add_database_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        action="append",
        default=[],
        metavar="FILE|URL",
        help="also use these OSV advisories: a JSON file, a directory, an OSV all.zip or an https URL",
    )
    parser.add_argument(
        "--update-db",
        metavar="FILE|URL",
        help="fetch OSV advisories, validate them and keep them as the updated copy used from now on",
    )
    parser.add_argument(
        "--offline", action="store_true", help="never touch the network (the default unless a URL is given)"
    )


def add_policy_arguments(parser: argparse.ArgumentParser) -> None:
    add_output_arguments(parser)
    parser.add_argument(
        "--fail-on",
        default="high",
        metavar="SEVERITY",
        help="exit 1 on a finding at or above SEVERITY: info|low|medium|high|critical (default: high)",
    )
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="ID",
        help="suppress a rule (MLV2205) or an advisory (CVE-2025-32434, GHSA-..., MLVET-...); repeatable",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress messages")


def run(args: argparse.Namespace) -> int:
    fail_on = parse_fail_on(args.fail_on)
    database = database_from(args)
    if args.python is not None:
        environment = environment_of(args.python)
    elif args.path:
        environment = environment_at(args.path[0])
        for extra in args.path[1:]:
            environment = replace(
                environment, site_dirs=(*environment.site_dirs, *environment_at(extra).site_dirs)
            )
    else:
        environment = current_environment()
    prefix = environment.python.parent.parent if environment.python is not None else None
    with Console(stderr=True).status("auditing", spinner="dots") if _show(args) else nullcontext() as status:
        report = audit_environment(
            environment.site_dirs,
            index_configs=[pip_config(prefix=prefix), uv_config()],
            database=database,
            model_roots=args.models or None,
            search_models=not args.no_model_search,
            imports=args.imports,
            progress=None if status is None else (lambda text: status.update(text)),
        )
    return finish(report, args, fail_on, noun="distribution")


def _show(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


def database_from(args: argparse.Namespace) -> AdvisoryDatabase:
    """Apply --update-db, then load the bundled, updated and --db advisories."""
    remote = [s for s in (*args.db, args.update_db or "") if "://" in s]
    if args.offline and remote:
        raise ConfigError(
            f"--offline forbids fetching {remote[0]}", hint="drop --offline or give a local file"
        )
    if args.update_db:
        stored, count = update_database(args.update_db, offline=False)
        sys.stderr.write(f"mlvet: stored {count} advisories from {args.update_db} in {stored}\n")
    return load_database(args.db, offline=False)


def parse_fail_on(text: str) -> Severity:
    try:
        return Severity.parse(text)
    except ValueError as exc:
        raise ConfigError(f"--fail-on: {exc}") from None


def finish(report: Report, args: argparse.Namespace, fail_on: Severity, *, noun: str) -> int:
    """Drop ignored findings, render, and pick the exit code."""
    ignored = {i.strip().upper() for item in args.ignore for i in item.split(",") if i.strip()}
    report = report.keeping(
        lambda f: (
            f.rule.id not in ignored
            and not (
                {str(f.evidence.get("advisory", "")).upper(), *map(str.upper, f.evidence.get("aliases", []))}
                & ignored
            )
        )
    )
    emit_summary(
        report, args, lambda r: render_human(r, noun=noun, color=args.output is None and sys.stdout.isatty())
    )
    if report.problems:
        return ExitCode.UNDECIDED
    return ExitCode.NO if report.at_or_above(fail_on) else ExitCode.PASSED


def render_human(report: Report, *, noun: str, color: bool = False) -> str:
    """Findings as a table (where, rule, message with the fix), then problems, then one summary line."""
    buffer = io.StringIO()
    width = shutil.get_terminal_size((160, 24)).columns
    console = Console(file=buffer, force_terminal=color, no_color=not color, width=width, highlight=False)
    if report.findings:
        table = Table(title="Findings", title_justify="left")
        table.add_column("Severity", no_wrap=True)
        table.add_column("Rule", no_wrap=True)
        table.add_column("Where", overflow="fold")
        table.add_column("Message", overflow="fold")
        for finding in report.findings:
            package = finding.evidence.get("package")
            where = finding.subject.path
            if finding.location.line is not None:
                where = f"{where}:{finding.location.line}"
            elif package and finding.subject.format == "python-distribution":
                where = str(package)
            elif package:
                where = f"{where} ({package})"
            table.add_row(
                Text(str(finding.severity).upper(), style=_STYLE[finding.severity]),
                finding.rule.id,
                Text(where),
                Text(finding.message),
            )
        console.print(table)
    for problem in report.problems:
        console.print(Text(f"not examined: {problem.subject.display}: {problem.message}"))
    counts = Counter(f.severity for f in report.findings)
    parts = ", ".join(f"{counts[s]} {s}" for s in reversed(Severity) if counts[s])
    environment = report.details.get("environment", {})
    examined = environment.get("distributions", report.details.get("requirements", len(report.subjects)))
    advisories = report.details.get("database", {}).get("advisories", 0)
    summary = f"Checked {examined} {noun}{'s' if examined != 1 else ''} against {advisories} advisories: "
    summary += f"{len(report.findings)} finding{'s' if len(report.findings) != 1 else ''}"
    summary += f" ({parts})" if parts else ""
    if report.suppressed:
        summary += f", {report.suppressed} suppressed"
    if report.problems:
        summary += f", {len(report.problems)} not examined"
    console.print(Text(summary + "."))
    return buffer.getvalue()
