"""Options and plumbing every reporting subcommand shares: --format, --output, colour, writing text."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from mlvet.errors import InputError
from mlvet.findings import Report, Rule
from mlvet.render import OutputFormat, render


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f",
        "--format",
        choices=[f.value for f in OutputFormat],
        default=OutputFormat.TABLE.value,
        help="output format (default: table)",
    )
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the report to FILE")


def emit(report: Report, args: argparse.Namespace, rules: dict[str, Rule]) -> None:
    """Render the report as asked and write it to ``--output`` or standard output."""
    output_format = OutputFormat(args.format)
    to_terminal = args.output is None and sys.stdout.isatty()
    text = render(report, output_format, rules, color=to_terminal and output_format is OutputFormat.TABLE)
    write_text(text, args.output)


def emit_summary(report: Report, args: argparse.Namespace, summary: Callable[[Report], str]) -> None:
    """A subcommand's own concise text for ``table``; the shared renderers for json and sarif."""
    if args.format == OutputFormat.TABLE.value:
        write_text(summary(report), args.output)
    else:
        from mlvet.catalogue import all_rules

        emit(report, args, all_rules())


def write_text(text: str, output: Path | None) -> None:
    """``text`` to ``output``, or to standard output when None; InputError when it cannot be written."""
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {output}: {exc.strerror or exc}") from None
