"""The command line: parse, call the library once, render, pick the exit code. Nothing else.

Each subcommand is a module with ``add_arguments(parser)`` and ``run(args) -> int``, listed in
``COMMANDS``. Only this package prints or exits.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from mlvet import __version__
from mlvet.cli import (
    approve,
    attest,
    bom,
    deps,
    diff,
    doctor,
    env,
    gate,
    lineage,
    probe,
    redteam,
    rules,
    sandbox,
    scan,
    sign,
    verify,
)
from mlvet.cli.exit_codes import ExitCode
from mlvet.errors import MlvetError

COMMANDS: dict[str, ModuleType] = {
    "scan": scan,
    "rules": rules,
    "redteam": redteam,
    "probe": probe,
    "sign": sign,
    "verify": verify,
    "attest": attest,
    "lineage": lineage,
    "env": env,
    "deps": deps,
    "sandbox": sandbox,
    "doctor": doctor,
    "bom": bom,
    "diff": diff,
    "approve": approve,
    "gate": gate,
}


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error and a hint instead of a usage dump."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}\nhint: run '{self.prog} --help' for usage\n")
        raise SystemExit(ExitCode.UNDECIDED)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mlvet", description="Secure ML pipelines against their supply chain.")
    parser.add_argument("--version", action="version", version=f"mlvet {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module in COMMANDS.items():
        doc = (module.__doc__ or "").strip().splitlines()[0]
        sub = commands.add_parser(name, help=doc, description=doc)
        module.add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run mlvet with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return ExitCode.UNDECIDED
    try:
        return int(COMMANDS[args.command].run(args))
    except MlvetError as exc:
        sys.stderr.write(f"mlvet {args.command}: error: {exc.diagnostics()}\n")
        return ExitCode.UNDECIDED
    except KeyboardInterrupt:
        sys.stderr.write("mlvet: interrupted\n")
        return 130
    except BrokenPipeError:
        return ExitCode.UNDECIDED
    except Exception as exc:  # the last guard: no traceback reaches a user unless they ask for it
        if os.environ.get("MLVET_DEBUG"):
            raise
        sys.stderr.write(
            f"mlvet {args.command}: internal error: {type(exc).__name__}: {exc}\n"
            "hint: this is a bug in mlvet; rerun with MLVET_DEBUG=1 for the traceback and report it\n"
        )
        return ExitCode.UNDECIDED
