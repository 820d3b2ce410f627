"""Load an untrusted file in an isolated sandbox and record what it tries to do."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mlvet.catalogue import all_rules
from mlvet.cli.exit_codes import ExitCode
from mlvet.cli.output import add_output_arguments, emit
from mlvet.errors import ConfigError
from mlvet.findings import Finding, Report, Severity
from mlvet.sandbox import Isolation, Limits, detonate
from mlvet.sandbox.loaders import LOADERS
from mlvet.sandbox.rules import RULES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="sandbox_action", metavar="ACTION", parser_class=type(parser))
    run_parser = actions.add_parser(
        "run", help="detonate one file", description="Load FILE with its real loader inside the sandbox."
    )
    run_parser.add_argument("file", type=Path, metavar="FILE", help="the model file to load")
    run_parser.add_argument(
        "--loader",
        choices=["auto", *LOADERS],
        default="auto",
        help="the loader to run (default: auto, judged from the file's bytes)",
    )
    run_parser.add_argument(
        "--isolation",
        choices=[rung.value for rung in Isolation],
        help="force a rung of the ladder (default: the strongest this machine supports)",
    )
    run_parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="wall-clock seconds before the run is killed (default: 60)",
    )
    run_parser.add_argument(
        "--memory", type=int, default=4096, metavar="MB", help="address-space limit in MiB (default: 4096)"
    )
    run_parser.add_argument(
        "--keep-output", type=Path, metavar="DIR", help="copy whatever the runner wrote into DIR"
    )
    run_parser.add_argument(
        "--no-static", action="store_true", help="do not scan the file statically for the cross-check"
    )
    run_parser.add_argument(
        "--fail-on",
        metavar="SEVERITY",
        default="high",
        help="exit 1 on a finding at or above SEVERITY (default: high)",
    )
    add_output_arguments(run_parser)


def run(args: argparse.Namespace) -> int:
    if args.sandbox_action != "run":
        raise ConfigError(
            "missing action", hint="usage: mlvet sandbox run FILE (see 'mlvet sandbox run --help')"
        )
    try:
        fail_on = Severity.parse(args.fail_on)
    except ValueError as exc:
        raise ConfigError(f"--fail-on: {exc}") from None
    if args.timeout <= 0 or args.memory < 64:
        raise ConfigError(
            "--timeout must be positive and --memory at least 64", hint="defaults: --timeout 60 --memory 4096"
        )
    limits = Limits(memory_mb=args.memory, timeout_s=args.timeout)
    report = detonate(
        args.file,
        loader=args.loader,
        isolation=args.isolation,
        limits=limits,
        keep_output=args.keep_output,
        cross_check=not args.no_static,
    )
    if args.format == "table" and args.output is None:
        sys.stdout.write(describe(report, fail_on))
    else:
        emit(report, args, all_rules())
    return exit_code(report, fail_on)


def exit_code(report: Report, fail_on: Severity) -> int:
    if report.problems:
        return ExitCode.UNDECIDED
    return ExitCode.NO if report.at_or_above(fail_on) else ExitCode.PASSED


def describe(report: Report, fail_on: Severity) -> str:
    """The human summary: isolation, what the file tried, how the run ended, the static cross-check."""
    details = report.details
    subject = report.subjects[0]
    outcome = details.get("outcome", {})
    lines = [f"{subject.path}  ({details.get('loader')} loader, isolation: {details.get('isolation')})"]
    active = [layer["layer"] for layer in details.get("layers", []) if layer.get("active")]
    inactive = [layer["layer"] for layer in details.get("layers", []) if not layer.get("active")]
    lines.append("  layers:   " + ", ".join(active))
    if inactive:
        lines.append("  missing:  " + ", ".join(inactive))
    dynamic = [f for f in report.findings if f.rule.id in _SANDBOX_IDS]
    static = [f for f in report.findings if f.rule.id not in _SANDBOX_IDS]
    if dynamic:
        lines.append("  tried:")
        lines += [f"    {str(f.severity).upper():<8} {f.rule.id}  {f.message}{_times(f)}" for f in dynamic]
    else:
        lines.append("  tried:    nothing of interest")
    lines.append(f"  load:     {_ending(outcome)}")
    printed = (details.get("stdout") or "").strip().splitlines()
    if printed:
        more = f" (+{len(printed) - 3} more lines)" if len(printed) > 3 else ""
        lines.append("  output:   " + " | ".join(printed[:3]) + more)
    written = details.get("files_written") or []
    lines.append(
        f"  contained: {len(details.get('events', []))} events recorded; "
        f"{len(written)} file(s) written, all inside the sandbox's scratch directory (discarded)"
    )
    if static:
        confirmed = sum(1 for f in static if f.confirmed)
        lines.append(f"  static:   {len(static)} finding(s), {confirmed} confirmed by this run")
        lines += [
            f"    {str(f.severity).upper():<8} {f.rule.id}  {'confirmed ' if f.confirmed else ''}{f.message}"
            for f in static
        ]
    lines += [f"  problem:  {p.message}" for p in report.problems]
    worst = max((f.severity for f in report.findings), default=None)
    if report.problems:
        verdict = "UNDECIDED (exit 2)"
    elif worst is not None and worst >= fail_on:
        verdict = f"MALICIOUS BEHAVIOUR (worst: {worst}; exit 1)"
    else:
        verdict = "nothing at or above " + str(fail_on) + " (exit 0)"
    lines.append(f"  verdict:  {verdict}")
    return "\n".join(lines) + "\n"


def _ending(outcome: dict[str, Any]) -> str:
    seconds = outcome.get("duration_s")
    if outcome.get("timed_out"):
        return f"did not finish: killed at the timeout after {seconds} s"
    if not outcome.get("ended"):
        how = (
            f"signal {outcome['signal']}"
            if outcome.get("signal")
            else f"exit status {outcome.get('returncode')}"
        )
        return f"did not finish: the runner ended ({how}) after {seconds} s"
    if outcome.get("loaded"):
        return f"finished in {seconds} s -> {outcome.get('type')}"
    return f"finished in {seconds} s -> {outcome.get('error')}: {outcome.get('message')}"


def _times(finding: Finding) -> str:
    count = finding.evidence.get("occurrences")
    return f"  (x{count})" if count else ""


_SANDBOX_IDS = frozenset(rule.id for rule in RULES)
