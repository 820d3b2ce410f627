"""Check a requirement set for dependency confusion, typosquats, missing pins and advisories."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlvet.cli.env_audit import (
    add_database_arguments,
    add_policy_arguments,
    database_from,
    finish,
    parse_fail_on,
)
from mlvet.env.audit import check_requirements
from mlvet.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="deps_command", metavar="ACTION", parser_class=type(parser))
    check = actions.add_parser(
        "check",
        help="check requirements.txt, pyproject.toml, pylock.toml or uv.lock",
        description="Check requirement files (or a project directory) for dependency confusion, look-alike "
        "names, missing pins and hashes, and known-vulnerable or compromised pinned versions.",
    )
    check.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="requirements*.txt, pyproject.toml, pylock*.toml, uv.lock, or a directory holding them",
    )
    check.add_argument(
        "--isolated",
        action="store_true",
        help="ignore this machine's pip.conf, uv.toml and PIP_*/UV_* variables (only the files decide)",
    )
    add_database_arguments(check)
    add_policy_arguments(check)


def run(args: argparse.Namespace) -> int:
    if args.deps_command is None:
        raise ConfigError("mlvet deps: name an action", hint="mlvet deps check requirements.txt")
    fail_on = parse_fail_on(args.fail_on)
    report = check_requirements(args.paths, database=database_from(args), use_config=not args.isolated)
    return finish(report, args, fail_on, noun="requirement")
