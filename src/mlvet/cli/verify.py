"""Verify a model against its OpenSSF Model Signing bundle, file by file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlvet.cli.exit_codes import ExitCode
from mlvet.cli.output import add_output_arguments, emit_summary
from mlvet.cli.sign import add_model_arguments, check_workers, hashing_progress, size_text
from mlvet.errors import ConfigError
from mlvet.findings import Report
from mlvet.provenance.comparison import FileStatus
from mlvet.provenance.keyless import SigstoreIdentity
from mlvet.provenance.trust import TrustInputs
from mlvet.provenance.verifying import verify

_SHOWN_PER_STATUS = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, metavar="MODEL", help="the model directory or file to verify")
    trust = parser.add_argument_group("whom to trust (one of)")
    trust.add_argument(
        "--key", type=Path, metavar="PUB.pem", help="the signer's PEM public key (or certificate)"
    )
    trust.add_argument(
        "--certificate-chain",
        type=Path,
        nargs="+",
        action="extend",
        default=[],
        metavar="CA.pem",
        help="trust anchors for a certificate-method signature",
    )
    trust.add_argument(
        "--identity", metavar="ID", help="Sigstore: the expected signer identity (e-mail or URI)"
    )
    trust.add_argument(
        "--identity-provider",
        metavar="URL",
        help="Sigstore: the expected OIDC issuer, e.g. https://accounts.google.com",
    )
    trust.add_argument(
        "--trusted-root",
        type=Path,
        metavar="FILE",
        help="Sigstore: pinned trusted_root.json (default: the one sigstore embeds; never fetched)",
    )
    trust.add_argument(
        "--staging", action="store_true", help="Sigstore: the staging instance's embedded trusted root"
    )
    add_model_arguments(parser)
    parser.add_argument(
        "--ignore-unsigned-files",
        action="store_true",
        help="do not fail on files the signature does not cover",
    )
    add_output_arguments(parser)


def run(args: argparse.Namespace) -> int:
    check_workers(args.workers)
    identity = None
    if args.identity or args.identity_provider:
        if not (args.identity and args.identity_provider):
            raise ConfigError(
                "--identity and --identity-provider go together",
                hint="give both, as in model-signing's 'verify sigstore'",
            )
        identity = SigstoreIdentity(args.identity, args.identity_provider)
    trust = TrustInputs(
        key=args.key,
        certificate_chain=tuple(args.certificate_chain),
        identity=identity,
        trusted_root=args.trusted_root,
        staging=args.staging,
    )
    with hashing_progress("verifying", show=sys.stderr.isatty()) as progress:
        report = verify(
            args.model,
            trust,
            signature=args.signature,
            ignore_paths=args.ignore_paths,
            ignore_unsigned_files=args.ignore_unsigned_files,
            workers=args.workers,
            progress=progress,
        )
    emit_summary(report, args, summary)
    if report.problems:
        return ExitCode.UNDECIDED
    return ExitCode.PASSED if report.details.get("verified") else ExitCode.NO


def summary(report: Report) -> str:
    """The human answer: the verdict, the signer, then the files that are not as signed."""
    d = report.details
    verdict = "VERIFIED" if d.get("verified") else "NOT VERIFIED"
    lines = [f"{verdict}  {d['model']}"]
    rules = {finding.rule.id for finding in report.findings}
    if d["signature_valid"] and d["signer_trusted"]:
        state = "valid, signer trusted"
    elif d["signature_valid"]:
        state = "valid, but signer NOT TRUSTED"
    elif "MLV1007" in rules:
        state = "signer NOT TRUSTED"
    else:
        state = "INVALID"
    lines.append(f"  signature  {state}: {d['signer']} [{d['method']}, {d['algorithm']}]")
    if not (d["signature_valid"] and d["signer_trusted"]):
        lines.append(f"  reason     {d['trust']}")
    counts = d.get("counts") or {}
    if counts:
        shown = ", ".join(f"{count} {status}" for status, count in counts.items() if count)
        lines.append(
            f"  files      {shown or 'none'} ({size_text(d.get('bytes_hashed', 0))} in {d['seconds']:.2f} s)"
        )
    rows = [row for row in d.get("files", []) if row["status"] != FileStatus.OK]
    for status in (s for s in FileStatus if s is not FileStatus.OK):
        names = [row for row in rows if row["status"] == status]
        for row in names[:_SHOWN_PER_STATUS]:
            note = (
                f"  {row['note']}"
                if row.get("note") and status in (FileStatus.SYMLINK, FileStatus.UNHASHABLE)
                else ""
            )
            lines.append(f"  {status:<10} {row['name']}{note}")
        if len(names) > _SHOWN_PER_STATUS:
            lines.append(
                f"  {status:<10} … and {len(names) - _SHOWN_PER_STATUS} more (--format json lists all)"
            )
    file_rules = {"MLV1002", "MLV1003", "MLV1004", "MLV1008", "MLV1010"}
    shown_elsewhere = file_rules | {"MLV1001", "MLV1007"}
    lines.extend(
        f"  {finding.rule.id}    {finding.message}"
        for finding in report.findings
        if finding.rule.id not in shown_elsewhere
    )
    return "\n".join(lines) + "\n"
