"""Record one pipeline stage as a signed SLSA provenance statement."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mlvet.cli.exit_codes import ExitCode
from mlvet.cli.passwords import read_password
from mlvet.errors import ConfigError
from mlvet.provenance.lineage.environment import KNOWN_FRAMEWORKS, installed_frameworks
from mlvet.provenance.lineage.record import Keyless, attest, parse_commit, parse_dataset, parse_params
from mlvet.provenance.lineage.statement import short


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stage", required=True, metavar="NAME", help="the stage's name, e.g. train, quantize"
    )
    parser.add_argument(
        "--input",
        action="append",
        default=[],
        type=Path,
        metavar="MODEL",
        help="an input model file or directory (repeatable; none for a source stage such as train)",
    )
    parser.add_argument(
        "--output", required=True, type=Path, metavar="MODEL", help="the stage's output model"
    )
    how = parser.add_argument_group("how to sign (--key, or --sigstore)")
    how.add_argument(
        "--key",
        action="append",
        default=[],
        type=Path,
        metavar="KEY.pem",
        help="private key to sign with (repeat for several signatures in one envelope)",
    )
    how.add_argument(
        "--password-file", type=Path, metavar="FILE", help="file holding the private key's password"
    )
    how.add_argument(
        "--sigstore",
        action="store_true",
        help="Sigstore keyless signing (needs network and an OIDC identity)",
    )
    how.add_argument(
        "--identity-token", metavar="TOKEN", help="OIDC token for --sigstore (default: ambient CI)"
    )
    how.add_argument("--staging", action="store_true", help="use Sigstore's staging instance")
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="a stage parameter (repeatable)"
    )
    parser.add_argument(
        "--dataset",
        action="append",
        default=[],
        metavar="URI[=SHA256]",
        help="a dataset the stage read; a local path is hashed (repeatable)",
    )
    code = parser.add_mutually_exclusive_group()
    code.add_argument("--code-commit", metavar="SHA", help="git commit of the code (default: read from .git)")
    code.add_argument("--no-code-commit", action="store_true", help="do not record a code commit")
    parser.add_argument(
        "--framework",
        action="append",
        default=[],
        metavar="DIST",
        help="an installed distribution that did the work (repeatable; default: the ML frameworks installed)",
    )
    parser.add_argument(
        "--bundle",
        type=Path,
        metavar="PATH",
        help="the bundle to append to (default: <output>.intoto.jsonl beside the output)",
    )
    parser.add_argument("--print-statement", action="store_true", help="print the signed statement as JSON")


def run(args: argparse.Namespace) -> int:
    password = read_password(args.password_file)
    frameworks = installed_frameworks(args.framework or KNOWN_FRAMEWORKS)
    missing = sorted({name.lower() for name in args.framework} - {f.name.lower() for f in frameworks})
    if missing:
        raise ConfigError(
            f"--framework {missing[0]} is not installed in this environment",
            hint="name the distribution as pip lists it ('pip list'), e.g. --framework onnxruntime",
        )
    code = parse_commit(args.code_commit) if args.code_commit else None
    attestation = attest(
        args.stage,
        inputs=args.input,
        output=args.output,
        keys=args.key,
        params=parse_params(args.param),
        datasets=[parse_dataset(d) for d in args.dataset],
        code=code,
        detect_code=not args.no_code_commit,
        frameworks=frameworks,
        bundle=args.bundle,
        password=password,
        keyless=Keyless(args.identity_token, args.staging) if args.sigstore else None,
    )
    if args.print_statement:
        sys.stdout.write(json.dumps(attestation.statement, indent=2) + "\n")
        return ExitCode.PASSED
    subject = attestation.statement["subject"][0]
    dependencies = attestation.statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    roles = [d["annotations"]["mlvet.role"] for d in dependencies]
    signatures = attestation.envelope.get("signatures", [])
    signers = ", ".join(f"keyid:{s['keyid'][:12]}" for s in signatures) or "Sigstore keyless"
    sys.stdout.write(
        f"attested stage {args.stage!r}: {subject['name']} = {short(subject['digest']['sha256'])}\n"
        f"  inputs: {roles.count('model')} model(s), {roles.count('dataset')} dataset(s), "
        f"{'a code commit' if 'code' in roles else 'no code commit'}, "
        f"{roles.count('framework')} framework(s)\n"
        f"  signed by: {signers}\n"
        f"  appended to {attestation.bundle}\n"
    )
    return ExitCode.PASSED
