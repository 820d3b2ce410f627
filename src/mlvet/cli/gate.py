"""Decide whether a model may be deployed under a policy: checks, approvals, separation of duties."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mlvet.cli.exit_codes import ExitCode
from mlvet.cli.output import add_output_arguments, emit_summary
from mlvet.findings import Report
from mlvet.gate import evaluate_gate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, metavar="MODEL", help="the model file or directory to deploy")
    parser.add_argument("--policy", type=Path, required=True, metavar="FILE", help="the gate policy (TOML)")
    parser.add_argument(
        "--approvals", type=Path, metavar="FILE", help="approvals file (default: <MODEL>.approvals.jsonl)"
    )
    add_output_arguments(parser)


def run(args: argparse.Namespace) -> int:
    report = evaluate_gate(args.model, args.policy, approvals=args.approvals)
    emit_summary(report, args, _decision_text)
    return ExitCode.NO if report.details["decision"] == "deny" else ExitCode.PASSED


def _decision_text(report: Report) -> str:
    details: dict[str, Any] = dict(report.details)
    lines = [f"{details['model']}  {details['digest']}", f"policy {details['policy']}", ""]
    for check in details["checks"]:
        mark = "✓" if check["passed"] else "✗"
        lines.append(f"{mark} {check['check']:<12} {check['summary']}")
        lines.extend(f"    - {reason}" for reason in check["reasons"])
    for role in details["approvals"]:
        mark = "✓" if role["met"] else "✗"
        names = ", ".join(role["approved_by"]) or "none"
        lines.append(
            f"{mark} approvals    {role['role']}: {len(role['approved_by'])}/{role['required']} ({names})"
        )
        lines.extend(f"    - {r['rule']}: {r['reason']}" for r in role["rejected"])
    count = len(report.findings)
    verdict = "PASS" if details["decision"] == "pass" else f"DENY ({count} reason{'s' if count != 1 else ''})"
    lines += ["", f"decision: {verdict}"]
    return "\n".join(lines) + "\n"
