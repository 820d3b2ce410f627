"""Scan model files, directories and archives for malicious code."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mlvet.catalogue import all_rules
from mlvet.cli.exit_codes import ExitCode
from mlvet.cli.output import add_output_arguments, emit
from mlvet.config import Settings, load_settings
from mlvet.errors import ConfigError
from mlvet.findings import Report, Severity
from mlvet.scan import count_files, scan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files, directories or archives")
    add_output_arguments(parser)
    parser.add_argument(
        "--fail-on",
        metavar="SEVERITY",
        help="exit 1 on a finding at or above SEVERITY: info|low|medium|high|critical (default: high)",
    )
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="RULE",
        help="suppress a rule by ID (repeatable, or comma-separated: --ignore MLV104,MLV453)",
    )
    parser.add_argument(
        "--allow-unscanned",
        action="store_true",
        help="do not exit 2 when some content could not be scanned (it is still reported)",
    )
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="settings file (default: nearest mlvet.toml)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--dynamic",
        action="store_true",
        help="also load each model file in the sandbox and confirm findings by what it does (mlvet sandbox)",
    )


def run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    report = _scan_with_progress(args.paths, settings, show=not args.quiet and sys.stderr.isatty())
    if args.dynamic:
        from mlvet.sandbox import detonate_all

        report = detonate_all(report)
    emit(report, args, all_rules())
    return exit_code(report, settings.fail_on, allow_unscanned=args.allow_unscanned)


def exit_code(report: Report, fail_on: Severity, *, allow_unscanned: bool = False) -> int:
    """2 when something went unscanned (unless allowed), else 1 when a finding reaches ``fail_on``."""
    if report.problems and not allow_unscanned:
        return ExitCode.UNDECIDED
    return ExitCode.NO if report.at_or_above(fail_on) else ExitCode.PASSED


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    ignore = {rule.strip().upper() for item in args.ignore for rule in item.split(",") if rule.strip()}
    known = all_rules()
    unknown = sorted(ignore - set(known))
    if unknown:
        raise ConfigError(f"--ignore: unknown rule {unknown[0]}", hint="'mlvet rules' lists every rule ID")
    fail_on = None
    if args.fail_on is not None:
        try:
            fail_on = Severity.parse(args.fail_on)
        except ValueError as exc:
            raise ConfigError(f"--fail-on: {exc}") from None
    return settings.with_overrides(fail_on=fail_on, ignore=settings.ignore | ignore)


def _scan_with_progress(paths: list[Path], settings: Settings, *, show: bool) -> Report:
    if not show:
        return scan(paths, settings)
    total = count_files(paths) if all(p.exists() for p in paths) else None
    columns = (
        TextColumn("scanning"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task("", total=total)

        def advance(path: Path) -> None:
            progress.update(task, advance=1, description=path.name)

        return scan(paths, settings, progress=advance)
