"""Verify a model's chain of stage attestations under an identity policy."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.status import Status

from mlvet.catalogue import all_rules
from mlvet.cli.exit_codes import ExitCode
from mlvet.cli.output import add_output_arguments, emit, write_text
from mlvet.findings import Report
from mlvet.render import OutputFormat


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    actions.required = True
    verify = actions.add_parser(
        "verify",
        help="walk the model's chain back to its source and check it under a policy",
        description="Walk the model's chain of stage attestations back to its source and check every "
        "signature, every digest link and the identity policy.",
    )
    verify.add_argument("model", type=Path, metavar="MODEL", help="the deployed model (file or directory)")
    verify.add_argument(
        "--policy", required=True, type=Path, metavar="POLICY.toml", help="the identity policy"
    )
    verify.add_argument(
        "--bundle", type=Path, metavar="PATH", help="the attestation bundle (default: <MODEL>.intoto.jsonl)"
    )
    verify.add_argument(
        "--check-equivalence",
        action="store_true",
        help="run each quantize/convert/compile stage's input and output models and compare them "
        "(needs mlvet[onnx])",
    )
    add_output_arguments(verify)


def run(args: argparse.Namespace) -> int:
    from mlvet.provenance.lineage import verify_lineage

    if args.check_equivalence and sys.stderr.isatty():
        with Status("checking stage equivalence", console=Console(stderr=True)) as status:

            def show(stage: str) -> None:
                status.update(f"checking the equivalence of stage {stage!r}")

            report = verify_lineage(
                args.model, args.policy, bundle=args.bundle, check_equivalence=True, progress=show
            )
    else:
        report = verify_lineage(
            args.model, args.policy, bundle=args.bundle, check_equivalence=args.check_equivalence
        )
    if OutputFormat(args.format) is OutputFormat.TABLE:
        write_text(summary(report), args.output)
    else:
        emit(report, args, all_rules())
    return exit_code(report)


def exit_code(report: Report) -> int:
    """2 when something could not be examined, else 1 on any finding, else 0."""
    if report.problems:
        return ExitCode.UNDECIDED
    return ExitCode.NO if report.findings else ExitCode.PASSED


def summary(report: Report) -> str:
    """The chain, one line per stage, then why it fails (or that it holds)."""
    details = report.details
    lines = [
        f"lineage of {details['model']} (sha256:{details['sha256'][:12]})",
        f"  bundle {details['bundle']}, policy {details['policy']}",
    ]
    for node in details["chain"]:
        lines.append(_stage_line(node))
        equivalence = node.get("equivalence")
        if equivalence:
            lines.append(f"      {_equivalence_text(equivalence)}")
    if not details["chain"]:
        lines.append("  (no attested stage produced this model)")
    lines.extend(
        f"  ? {node['stage']:<10} line {_lines(node)}  not part of this model's chain"
        for node in details["unconnected"]
    )
    if report.findings:
        lines.append("")
        lines.extend(f"{f.rule.id} {f.severity}: {f.message}" for f in report.findings)
    lines.extend(f"not examined ({p.kind.value}): {p.message}" for p in report.problems)
    stages = len(details["chain"])
    if details["verified"]:
        lines.append(
            f"\nverified: {stages} stage{'s' if stages != 1 else ''}, "
            "every link and signer as the policy requires"
        )
    elif report.problems:
        lines.append("\nundecided: part of the lineage could not be examined")
    else:
        failed = len({f.rule.id for f in report.findings})
        lines.append(f"\nFAILED: {len(report.findings)} finding(s) under {failed} rule(s)")
    return "\n".join(lines) + "\n"


def _stage_line(node: dict[str, Any]) -> str:
    mark = "✓" if node["ok"] else "✗"
    signers = ", ".join(s["name"] + ("" if s["authorised"] else " (not allowed)") for s in node["signers"])
    authorised = sum(1 for s in node["signers"] if s["authorised"])
    needed = f" {authorised}/{node['threshold']}" if node["threshold"] is not None else ""
    inputs = ", ".join(f"{i['name']} sha256:{i['sha256'][:12]}" for i in node["inputs"]) or "(source)"
    output = f"{node['output']['name']} sha256:{node['output']['sha256'][:12]}"
    return (
        f"  {mark} {node['stage']:<10} line {_lines(node):<4} signed by {signers or 'nobody'}{needed}\n"
        f"      {inputs} -> {output}"
    )


def _lines(node: dict[str, Any]) -> str:
    return ",".join(str(n) for n in node["lines"])


def _equivalence_text(equivalence: dict[str, Any]) -> str:
    if not equivalence.get("checked"):
        return f"equivalence not checked: {equivalence.get('reason')}"
    verdict = "equivalent" if equivalence["equivalent"] else "NOT equivalent"
    gates = equivalence["gate_inputs"]
    largest, used = equivalence["max_abs_diff"], equivalence["tolerance_used"]
    shown = largest if isinstance(largest, str) else f"{largest:.3g}"
    share = "far beyond" if isinstance(used, str) or used >= 10 else f"{used:.0%} of"
    return (
        f"{verdict}: max |Δ| {shown}, {share} the tolerance (atol {equivalence['atol']:g}, rtol "
        f"{equivalence['rtol']:g}), on {equivalence['generated_inputs']} generated + {gates} gate-opening "
        f"input{'s' if gates != 1 else ''}"
        + (f"; structure: {len(equivalence['structure'])} new" if equivalence["structure"] else "")
    )
