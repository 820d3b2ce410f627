"""Verify, lock and audit the installed Python environment."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from mlvet.catalogue import all_rules
from mlvet.cli import env_audit
from mlvet.cli.exit_codes import ExitCode
from mlvet.cli.output import add_output_arguments, emit, write_text
from mlvet.env.display import render_lock_summary, render_verification
from mlvet.env.lock import (
    LockResult,
    LockSources,
    RecordFetch,
    count_distributions,
    lock_environment,
    lock_requirements,
)
from mlvet.env.lockfile import Lock, read_lock, write_pylock
from mlvet.env.target import Environment, current_environment, environment_at, environment_of
from mlvet.env.verify import ProgressCallback, verify_environment
from mlvet.errors import ConfigError, InputError
from mlvet.findings import Report, Severity
from mlvet.render import OutputFormat, render


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="env_command", metavar="ACTION", parser_class=type(parser))
    verify = actions.add_parser(
        "verify",
        help="check every installed file against its RECORD (and a lock's vetted wheels)",
        description="Recompute every RECORD hash of the environment, find files no distribution owns "
        "and start-up hooks; with --lock, also compare each RECORD with the vetted wheel's.",
    )
    _target_arguments(verify)
    verify.add_argument(
        "--lock", type=Path, metavar="FILE", help="pylock.toml, uv.lock or requirements with --hash"
    )
    verify.add_argument(
        "--records-dir",
        type=Path,
        metavar="DIR",
        help="store of vetted RECORDs (default: ~/.cache/mlvet/records)",
    )
    verify.add_argument(
        "--wheels", type=Path, metavar="DIR", help="the locked wheels, to read vetted RECORDs from"
    )
    verify.add_argument("--workers", type=int, metavar="N", help="hashing threads (default: 2 per core)")
    verify.add_argument(
        "--fail-on",
        default="high",
        metavar="SEVERITY",
        help="exit 1 on a finding at or above it (default: high)",
    )
    verify.add_argument(
        "--ignore", action="append", default=[], metavar="RULE", help="suppress a rule (repeatable)"
    )
    verify.add_argument(
        "--allow-unscanned", action="store_true", help="do not exit 2 when some files could not be read"
    )
    verify.add_argument(
        "-v", "--verbose", action="store_true", help="list every distribution, not only failures"
    )
    verify.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_output_arguments(verify)

    lock = actions.add_parser(
        "lock",
        help="write a PEP 751 pylock.toml with wheel and RECORD hashes",
        description="Lock the environment (or a requirements set): every wheel's sha256, size, file name "
        "and index, plus the sha256 of the RECORD inside the wheel.",
    )
    _target_arguments(lock)
    lock.add_argument(
        "-r", "--requirements", type=Path, metavar="FILE", help="lock pinned requirements instead"
    )
    lock.add_argument("--wheels", type=Path, metavar="DIR", help="downloaded wheels (pip download -d DIR)")
    lock.add_argument(
        "--index-url",
        action="append",
        default=[],
        metavar="URL",
        help="simple-API index, tried in order (repeatable; default: https://pypi.org/simple/)",
    )
    lock.add_argument("--offline", action="store_true", help="no network: only --wheels gives hashes")
    lock.add_argument(
        "--fetch-records",
        choices=[f.value for f in RecordFetch],
        default=RecordFetch.RANGE.value,
        help="RECORD of wheels not on disk: range (read only RECORD from the index, default), "
        "download (whole wheel, checked), none",
    )
    lock.add_argument(
        "--records-dir",
        type=Path,
        metavar="DIR",
        help="store of vetted RECORDs (default: ~/.cache/mlvet/records)",
    )
    lock.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("pylock.toml"),
        metavar="FILE",
        help="lock file (- for stdout)",
    )
    lock.add_argument("--format", choices=["table", "json", "sarif"], default="table", help="report format")
    lock.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="exit 0 even when some packages could not be hash-locked",
    )
    lock.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    audit = actions.add_parser(
        "audit",
        help="known-vulnerable and compromised releases, index configuration, typosquats",
        description=(env_audit.__doc__ or "").strip().splitlines()[0],
    )
    env_audit.add_arguments(audit)


def _target_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--python", type=Path, metavar="PATH", help="another interpreter (or venv directory)")
    where.add_argument("--path", type=Path, metavar="SITE_PACKAGES", help="a site-packages directory")


def run(args: argparse.Namespace) -> int:
    if args.env_command == "verify":
        return _verify(args)
    if args.env_command == "lock":
        return _lock(args)
    if args.env_command == "audit":
        return int(env_audit.run(args))
    raise ConfigError(
        "'mlvet env' needs an action", hint="use 'mlvet env verify', 'mlvet env lock' or 'mlvet env audit'"
    )


def _environment(args: argparse.Namespace) -> Environment:
    if args.python is not None:
        return environment_of(args.python)
    if args.path is not None:
        return environment_at(args.path)
    return current_environment()


def _verify(args: argparse.Namespace) -> int:
    try:
        fail_on = Severity.parse(args.fail_on)
    except ValueError as exc:
        raise ConfigError(f"--fail-on: {exc}") from None
    if args.workers is not None and args.workers < 1:
        raise ConfigError("--workers must be at least 1")
    ignore = _ignored(args.ignore)
    environment = _environment(args)
    lock = read_lock(args.lock) if args.lock is not None else None
    if args.wheels is not None and not args.wheels.is_dir():
        raise InputError(f"--wheels {args.wheels} is not a directory")
    show = not args.quiet and sys.stderr.isatty()
    if show:
        columns = (
            TextColumn("verifying"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, transient=True) as progress:
            task = progress.add_task("", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, advance=done, total=total)

            report = _run_verify(args, environment, lock, advance)
    else:
        report = _run_verify(args, environment, lock, None)
    report = report.keeping(lambda finding: finding.rule.id not in ignore)
    if args.format == "table":
        text = render_verification(report, fail_on, verbose=args.verbose)
        write_text(text, args.output)
    else:
        emit(report, args, all_rules())
    if report.problems and not args.allow_unscanned:
        return ExitCode.UNDECIDED
    return ExitCode.NO if report.at_or_above(fail_on) else ExitCode.PASSED


def _run_verify(
    args: argparse.Namespace, environment: Environment, lock: Lock | None, progress: ProgressCallback | None
) -> Report:
    return verify_environment(
        environment,
        lock=lock,
        records_dir=args.records_dir,
        wheels_dir=args.wheels,
        workers=args.workers,
        progress=progress,
    )


def _lock(args: argparse.Namespace) -> int:
    if args.requirements is not None and (args.python is not None or args.path is not None):
        raise ConfigError(
            "--requirements locks a requirements set; it cannot be combined with --python/--path"
        )
    if args.wheels is not None and not args.wheels.is_dir():
        raise InputError(f"--wheels {args.wheels} is not a directory")
    sources = LockSources(
        wheels_dir=args.wheels,
        index_urls=tuple(args.index_url) or LockSources().index_urls,
        offline=args.offline,
        fetch=RecordFetch(args.fetch_records),
        records_dir=args.records_dir,
    )
    result = _lock_with_progress(args, sources, show=not args.quiet and sys.stderr.isatty())
    text = write_pylock(result.lock, result.lock.created_by or "mlvet")
    if str(args.output) == "-":
        sys.stdout.write(text)
    else:
        write_text(text, args.output)
    report = result.report
    report = replace(report, details={**report.details, "lock_file": str(args.output)})
    text = (
        render_lock_summary(report)
        if args.format == "table"
        else render(report, OutputFormat(args.format), all_rules())
    )
    (sys.stderr if str(args.output) == "-" else sys.stdout).write(text)  # the lock owns stdout then
    return ExitCode.UNDECIDED if report.problems and not args.allow_incomplete else ExitCode.PASSED


def _lock_with_progress(args: argparse.Namespace, sources: LockSources, *, show: bool) -> LockResult:
    environment = _environment(args) if args.requirements is None else None
    if not show:
        if environment is None:
            return lock_requirements(args.requirements, sources)
        return lock_environment(environment, sources)
    columns = (
        TextColumn("locking"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, transient=True) as progress:
        total = count_distributions(environment) if environment is not None else None
        task = progress.add_task("", total=total)

        def advance(name: str) -> None:
            progress.update(task, advance=1, description=name)

        if environment is None:
            return lock_requirements(args.requirements, sources, progress=advance)
        return lock_environment(environment, sources, progress=advance)


def _ignored(values: list[str]) -> set[str]:
    ignore = {rule.strip().upper() for item in values for rule in item.split(",") if rule.strip()}
    unknown = sorted(ignore - set(all_rules()))
    if unknown:
        raise ConfigError(f"--ignore: unknown rule {unknown[0]}", hint="'mlvet rules' lists every rule ID")
    return ignore
