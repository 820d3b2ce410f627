"""Synthesize a trigger for every suspected backdoor gate in an ONNX model and prove it by execution."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlvet.catalogue import all_rules
from mlvet.cli.exit_codes import ExitCode
from mlvet.cli.output import add_output_arguments, emit
from mlvet.errors import ConfigError
from mlvet.findings import Report, Rule, Severity
from mlvet.probe import DEFAULT_BUDGET, DEFAULT_SAMPLES, probe


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, metavar="MODEL", help="the ONNX model to probe")
    parser.add_argument(
        "--shape",
        action="append",
        default=[],
        metavar="NAME=DIMS",
        help="concrete shape of an input, e.g. --shape pixel_values=1,3,224,224 (repeatable)",
    )
    parser.add_argument(
        "--calibration",
        type=Path,
        metavar="DIR",
        help="clean samples: .npz files keyed by input name (or .npy for a single input)",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=DEFAULT_SAMPLES,
        metavar="N",
        help=f"generated clean samples when no --calibration (default: {DEFAULT_SAMPLES})",
    )
    parser.add_argument(
        "--budget",
        type=int,
        default=DEFAULT_BUDGET,
        metavar="N",
        help=f"model runs allowed per gate (default: {DEFAULT_BUDGET})",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        metavar="DIR",
        help="where trigger .npy files go (default: <model>.probe/ next to the model)",
    )
    add_output_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.samples < 1 or args.budget < 1:
        raise ConfigError(
            "--samples and --budget must be at least 1", hint="the defaults are --samples 16 --budget 2000"
        )
    shapes: dict[str, tuple[int, ...]] = {}
    for text in args.shape:
        try:
            name, shape = parse_shape(text)
        except ValueError as exc:
            raise ConfigError(
                f"--shape: {exc}",
                hint="give one per input, e.g. --shape input_ids=1,16 --shape image=1,3,32,32",
            ) from None
        shapes[name] = shape
    report = probe(
        args.model,
        shapes=shapes,
        calibration=args.calibration,
        samples=args.samples,
        budget=args.budget,
        out_dir=args.out_dir,
    )
    emit(report, args, _catalogue(report))
    return exit_code(report)


def parse_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """``NAME=1,3,224,224`` as a name and a shape; ValueError when malformed."""
    name, sep, dims = text.partition("=")
    if not sep or not name.strip() or not dims.strip():
        raise ValueError(f"expected NAME=DIM,DIM,... but got {text!r}")
    try:
        shape = tuple(int(d) for d in dims.split(","))
    except ValueError:
        raise ValueError(f"dimensions must be integers in {text!r}") from None
    if any(d <= 0 for d in shape):
        raise ValueError(f"dimensions must be positive in {text!r}")
    return name.strip(), shape


def exit_code(report: Report) -> int:
    """2 when a gate could not be examined, else 1 when a gate is confirmed or suspected, else 0."""
    if report.problems:
        return ExitCode.UNDECIDED
    return ExitCode.NO if report.at_or_above(Severity.HIGH) else ExitCode.PASSED


def _catalogue(report: Report) -> dict[str, Rule]:
    rules = all_rules()
    rules.update({f.rule.id: f.rule for f in report.findings})
    return rules
