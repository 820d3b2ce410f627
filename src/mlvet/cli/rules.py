"""List every rule mlvet can report, with its ID, severity and meaning."""

from __future__ import annotations

import argparse
import sys

from mlvet.catalogue import all_rules
from mlvet.cli.exit_codes import ExitCode
from mlvet.render import catalogue


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f",
        "--format",
        choices=["table", "json", "markdown"],
        default="table",
        help="output format (markdown is the source of docs/rules.md)",
    )


def run(args: argparse.Namespace) -> int:
    rules = all_rules().values()
    if args.format == "markdown":
        text = catalogue.markdown(rules)
    elif args.format == "json":
        text = catalogue.json_catalogue(rules)
    else:
        text = catalogue.table(rules, color=sys.stdout.isatty())
    sys.stdout.write(text)
    return ExitCode.PASSED
