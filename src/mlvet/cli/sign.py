"""Sign a model file or directory in the OpenSSF Model Signing format."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from mlvet.cli.exit_codes import ExitCode
from mlvet.cli.output import add_output_arguments, emit_summary
from mlvet.cli.passwords import read_password
from mlvet.errors import ConfigError
from mlvet.findings import Report
from mlvet.provenance.hashing import ProgressSink
from mlvet.provenance.signing import SigningIdentity, sign


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, metavar="MODEL", help="the model directory or file to sign")
    how = parser.add_argument_group("how to sign (one of --key or --sigstore)")
    how.add_argument(
        "--key",
        type=Path,
        metavar="KEY.pem",
        help="PEM private key: EC P-256/384/521, or Ed25519 (mlvet extension)",
    )
    how.add_argument(
        "--password-file", type=Path, metavar="FILE", help="file holding the password of an encrypted key"
    )
    how.add_argument(
        "--certificate",
        type=Path,
        metavar="CERT.pem",
        help="signing certificate for --key (certificate method)",
    )
    how.add_argument(
        "--certificate-chain",
        type=Path,
        nargs="+",
        action="extend",
        default=[],
        metavar="CHAIN.pem",
        help="intermediate CA certificates to ship with --certificate",
    )
    how.add_argument(
        "--sigstore",
        action="store_true",
        help="Sigstore keyless signing (needs network and an OIDC identity)",
    )
    how.add_argument(
        "--identity-token",
        metavar="TOKEN",
        help="OIDC identity token for --sigstore (default: ambient CI credentials)",
    )
    how.add_argument("--staging", action="store_true", help="use the Sigstore staging instance (tests only)")
    add_model_arguments(parser)
    parser.add_argument(
        "--no-ignore-git-paths",
        dest="ignore_git_paths",
        action="store_false",
        help="also sign .git, .gitattributes, .github, .gitignore",
    )
    parser.add_argument(
        "--allow-symlinks",
        action="store_true",
        help="follow symlinks and hash their targets (recorded in the signature)",
    )
    add_output_arguments(parser)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Options that sign and verify share."""
    parser.add_argument(
        "--signature",
        type=Path,
        metavar="PATH",
        help="signature file (default: MODEL_DIR/model.sig, or FILE.sig beside a single file)",
    )
    parser.add_argument(
        "--ignore-paths",
        nargs="+",
        action="extend",
        default=[],
        metavar="PATH",
        help="paths in the model to leave out (exact, relative to the model; a directory drops its subtree)",
    )
    parser.add_argument(
        "--workers", type=int, metavar="N", help="hashing threads (default: cores + 4, at most 32)"
    )


@contextmanager
def hashing_progress(
    verb: str, *, show: bool, console: Console | None = None
) -> Iterator[ProgressSink | None]:
    """A rich bar in bytes on a TTY (stderr, or ``console``); nothing otherwise."""
    if not show:
        yield None
        return
    columns = (TextColumn(verb), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True, console=console) as progress:
        task = progress.add_task(verb, total=None)

        class _Sink:
            def start(self, total: int) -> None:
                progress.update(task, total=total)

            def advance(self, amount: int) -> None:
                progress.update(task, advance=amount)

        yield _Sink()


def check_workers(workers: int | None) -> None:
    if workers is not None and workers < 1:
        raise ConfigError(
            "--workers must be at least 1", hint="leave it out for the default (cores + 4, at most 32)"
        )


def run(args: argparse.Namespace) -> int:
    check_workers(args.workers)
    if bool(args.key) == bool(args.sigstore):
        raise ConfigError(
            "give exactly one of --key KEY.pem and --sigstore", hint="mlvet sign MODEL --key key.pem"
        )
    identity = SigningIdentity(
        key=args.key,
        password=read_password(args.password_file),
        certificate=args.certificate,
        certificate_chain=tuple(args.certificate_chain),
        sigstore=args.sigstore,
        identity_token=args.identity_token,
        staging=args.staging,
    )
    with hashing_progress("hashing", show=sys.stderr.isatty()) as progress:
        report = sign(
            args.model,
            identity,
            signature=args.signature,
            ignore_paths=args.ignore_paths,
            ignore_git_paths=args.ignore_git_paths,
            allow_symlinks=args.allow_symlinks,
            workers=args.workers,
            progress=progress,
        )
    emit_summary(report, args, _summary)
    return ExitCode.PASSED


def _summary(report: Report) -> str:
    d = report.details
    rate = f" ({size_text(int(d['bytes'] / d['seconds']))}/s)" if d["seconds"] and d["bytes"] >= 10**8 else ""
    signer = d["algorithm"] + (f", key {d['keyid'][:16]}" if d.get("keyid") else "")
    lines = [
        f"signed {d['model']}: {d['files']} files, {size_text(d['bytes'])} hashed"
        f" in {d['seconds']:.2f} s{rate}",
        f"  signature    {d['signature']}",
        f"  method       {d['method']} ({signer})",
        f"  root digest  sha256:{d['root_digest']}",
    ]
    ignored = d["serialization"]["ignore_paths"]
    if ignored:
        lines.append(f"  ignored      {', '.join(ignored)}")
    lines += [f"  note: {finding.message}" for finding in report.findings]
    return "\n".join(lines) + "\n"


def size_text(count: int) -> str:
    """Bytes in decimal units, as the transfer columns show them."""
    value = float(count)
    for unit in ("B", "KB", "MB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"
