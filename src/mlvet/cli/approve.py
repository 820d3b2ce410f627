"""Sign an approval of a model for one role (weights, framework, deploy)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlvet.cli.exit_codes import ExitCode
from mlvet.cli.passwords import read_password
from mlvet.gate.approvals import ROLES, approve
from mlvet.provenance.keys import load_signer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, metavar="MODEL", help="the model file or directory approved")
    parser.add_argument(
        "--key", type=Path, required=True, metavar="KEY.pem", help="the approver's private key"
    )
    parser.add_argument("--password-file", type=Path, metavar="FILE", help="file holding the key's password")
    parser.add_argument("--role", choices=ROLES, required=True, help="what the approver vouches for")
    parser.add_argument("--comment", required=True, help="why (kept in the signed approval)")
    parser.add_argument(
        "--lock",
        type=Path,
        metavar="FILE",
        help="the environment lock a framework approval signs (role framework)",
    )
    parser.add_argument(
        "--approvals", type=Path, metavar="FILE", help="approvals file (default: <MODEL>.approvals.jsonl)"
    )


def run(args: argparse.Namespace) -> int:
    password = read_password(args.password_file)
    signer = load_signer(args.key, password)
    approval, stored = approve(
        args.model, signer, args.role, args.comment, lock=args.lock, store=args.approvals
    )
    sys.stdout.write(
        f"approved {approval.subject_name} (sha256:{approval.subject_sha256}) for role {approval.role}\n"
        f"  approver key {approval.approver[:16]}…, {approval.time}\n"
        f"  appended to {stored}\n"
    )
    return ExitCode.PASSED
