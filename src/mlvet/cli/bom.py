"""Write a CycloneDX ML-BOM (or SPDX 3 AI document) for models and the environment."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mlvet.bom import SPEC_VERSIONS, build_bom
from mlvet.cli.exit_codes import ExitCode
from mlvet.cli.output import write_text
from mlvet.config import load_settings
from mlvet.env import LockedFile
from mlvet.errors import ConfigError
from mlvet.findings import Severity


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="*", type=Path, metavar="PATH", help="model files or model directories"
    )
    parser.add_argument(
        "--env", action="store_true", help="list the installed Python distributions as libraries"
    )
    parser.add_argument(
        "--lock",
        type=Path,
        metavar="FILE",
        help="take wheel hashes from this lock (pylock.toml, uv.lock, requirements.txt --hash)",
    )
    parser.add_argument(
        "--format",
        choices=["cyclonedx", "spdx"],
        default="cyclonedx",
        help="CycloneDX JSON (default) or SPDX 3.0.1 JSON-LD with the AI profile",
    )
    parser.add_argument(
        "--spec", choices=SPEC_VERSIONS, default="1.6", help="CycloneDX specification version (default: 1.6)"
    )
    parser.add_argument("--no-scan", action="store_true", help="do not scan the models (no vulnerabilities)")
    parser.add_argument(
        "--fail-on",
        metavar="SEVERITY",
        help="exit 1 when a scan finding is at or above SEVERITY (default: never; the BOM is an inventory)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write the BOM to FILE (default: stdout)"
    )


def run(args: argparse.Namespace) -> int:
    if not args.paths and not args.env:
        raise ConfigError("nothing to list", hint="give model paths, --env, or both")
    threshold = _severity(args.fail_on)
    locked, lock_name = _read_lock(args.lock) if args.lock else (None, None)
    result = build_bom(
        args.paths,
        spec=args.spec,
        output_format=args.format,
        environment=args.env,
        locked=locked,
        lock_name=lock_name,
        scan=not args.no_scan,
        settings=load_settings(),
    )
    write_text(json.dumps(result.document, indent=2) + "\n", args.output)
    _summary(result.document, args)
    for problem in result.report.problems:
        sys.stderr.write(f"mlvet bom: not fully examined: {problem.subject.display}: {problem.message}\n")
    if result.report.problems:
        return ExitCode.UNDECIDED
    if threshold is not None and result.report.at_or_above(threshold):
        return ExitCode.NO
    return ExitCode.PASSED


def _severity(text: str | None) -> Severity | None:
    if text is None:
        return None
    try:
        return Severity.parse(text)
    except ValueError as exc:
        raise ConfigError(f"--fail-on: {exc}", hint="e.g. --fail-on high") from None


def _read_lock(path: Path) -> tuple[dict[str, str], str]:
    """``name==version`` -> SHA-256 of the locked wheel that matches what is installed."""
    from mlvet.env import read_lock

    pins = {}
    for key, group in read_lock(path).packages.items():
        for package in group:
            wheel = _installed_wheel(package.wheels, package.installed_tags)
            if wheel is not None and wheel.sha256 and package.version:
                pins[f"{key}=={package.version}"] = wheel.sha256
    return pins, str(path)


def _installed_wheel(wheels: tuple[LockedFile, ...], tags: tuple[str, ...]) -> LockedFile | None:
    """The only wheel, or the one whose filename carries a tag the installed distribution has."""
    if len(wheels) == 1:
        return wheels[0]
    matching = [w for w in wheels if w.filename and any(w.filename.endswith(f"-{tag}.whl") for tag in tags)]
    return matching[0] if len(matching) == 1 else None


def _summary(document: dict[str, object], args: argparse.Namespace) -> None:
    if args.format == "spdx":
        what = f"SPDX 3.0.1, {len(document.get('@graph', []))} elements"  # type: ignore[arg-type]
    else:
        components = document.get("components", [])
        kinds = [c.get("type") for c in components] if isinstance(components, list) else []
        vulnerabilities = document.get("vulnerabilities", [])
        counts = (
            _count(kinds.count("machine-learning-model"), "model"),
            _count(kinds.count("data"), "dataset"),
            _count(kinds.count("library"), "library", "libraries"),
            _count(
                len(vulnerabilities) if isinstance(vulnerabilities, list) else 0,
                "vulnerability",
                "vulnerabilities",
            ),
        )
        what = f"CycloneDX {args.spec}, validated: " + ", ".join(counts)
    where = f"wrote {args.output}" if args.output else "BOM on stdout"
    sys.stderr.write(f"mlvet bom: {where} ({what})\n")


def _count(number: int, one: str, many: str | None = None) -> str:
    return f"{number} {one if number == 1 else many or one + 's'}"
