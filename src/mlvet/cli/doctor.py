"""Show which isolation layers this machine supports."""

from __future__ import annotations

import argparse
import json
import sys

from mlvet.cli.exit_codes import ExitCode
from mlvet.sandbox import Capabilities, Isolation, probe
from mlvet.sandbox.ladder import best_available, requirements


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")


def run(args: argparse.Namespace) -> int:
    caps = probe(fresh=True)
    rung = best_available(caps)
    if args.json:
        payload = {
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in caps.checks],
            "landlock_abi": caps.landlock_abi,
            "rungs": {r.value: requirements(r, caps) for r in Isolation},
            "sandbox_run_uses": rung.value if rung else None,
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        sys.stdout.write(_table(caps, rung))
    return ExitCode.PASSED if rung is not None else ExitCode.UNDECIDED


def _table(caps: Capabilities, rung: Isolation | None) -> str:
    width = max(len(c.name) for c in caps.checks)
    lines = ["isolation layers on this machine:"]
    lines += [f"  {'✓' if c.ok else '✗'} {c.name:<{width}}  {c.detail}" for c in caps.checks]
    lines.append("ladder (strongest first):")
    for candidate in Isolation:
        missing = requirements(candidate, caps)
        mark = "✓" if not missing else "✗"
        note = "" if not missing else "  needs " + "; ".join(missing)
        lines.append(f"  {mark} {candidate.value}{note}")
    if rung is None:
        lines.append("'mlvet sandbox run' would refuse to detonate (exit 2): no rung can run here")
    else:
        lines.append(f"'mlvet sandbox run' would use: {rung.value}")
    return "\n".join(lines) + "\n"
