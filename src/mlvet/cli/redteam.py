"""Plant test backdoors in ONNX models to validate detection (red-team tooling)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from mlvet.cli.exit_codes import ExitCode
from mlvet.errors import InputError, MlvetError

if TYPE_CHECKING:
    import onnx

    from mlvet.redteam import Payload, Trigger

_KINDS = ("bytes", "image", "tokens")


class UsageError(MlvetError):
    """A redteam option cannot be understood."""

    hint = "run 'mlvet redteam inject --help' for the option formats"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="redteam_action", metavar="ACTION", parser_class=type(parser))
    doc = "Copy MODEL with a trigger-gated payload planted at the chosen stealth level."
    inject = actions.add_parser("inject", help=doc, description=doc)
    inject.add_argument("model", metavar="MODEL", type=Path, help="the ONNX model to copy")
    inject.add_argument("--kind", choices=_KINDS, required=True, help="what the trigger is stamped into")
    inject.add_argument(
        "--trigger",
        required=True,
        metavar="TRIGGER",
        help="bytes: text or hex:41495F45; tokens: comma-separated ids; image: the patch value (e.g. 8)",
    )
    inject.add_argument(
        "--position", type=int, default=0, help="bytes/tokens: offset of the trigger (default 0)"
    )
    inject.add_argument("--patch-size", type=int, default=3, help="image: patch side in pixels (default 3)")
    inject.add_argument(
        "--patch-at", default="0,0", metavar="TOP,LEFT", help="image: patch corner (default 0,0)"
    )
    inject.add_argument(
        "--payload",
        default="class:0",
        metavar="PAYLOAD",
        help="class:N (force class N), const:V[,V...] (output := V), steer:TENSOR=V[,V...] "
        "(add V to hidden state TENSOR); default class:0",
    )
    inject.add_argument(
        "--level", type=int, choices=range(4), default=0, help="0 Where, 1 arithmetic, 2 smooth, 3 disguised"
    )
    inject.add_argument(
        "--gate",
        choices=("where", "if"),
        default="where",
        help="level 0: per-sample Where (default), or one If for the whole batch (fires for every row "
        "when any row carries the trigger)",
    )
    inject.add_argument("-o", "--out", type=Path, required=True, metavar="OUT.onnx", help="where to write")
    inject.add_argument("--input", dest="input_name", metavar="NAME", help="graph input holding the trigger")
    inject.add_argument("--output", dest="output_name", metavar="NAME", help="graph output to override")


def run(args: argparse.Namespace) -> int:
    if args.redteam_action is None:
        sys.stderr.write("mlvet redteam: error: missing action\nhint: run 'mlvet redteam inject --help'\n")
        return ExitCode.UNDECIDED
    if importlib.util.find_spec("onnx") is None:
        sys.stderr.write("mlvet redteam: error: needs the onnx package\nhint: pip install 'mlvet[onnx]'\n")
        return ExitCode.UNDECIDED
    from mlvet.redteam import GateOp, Level, inject

    if args.gate == "if" and args.level != 0:
        raise UsageError(
            f"--gate if exists at level 0 only, not with --level {args.level}",
            hint="use --level 0 with --gate if, or drop --gate",
        )
    model = _load(args.model)
    trigger = _trigger(args)
    payload = _payload(args.payload)
    injected = inject(
        model,
        trigger=trigger,
        payload=payload,
        level=Level(args.level),
        gate=GateOp(args.gate),
        input_name=args.input_name,
        output_name=args.output_name,
    )
    try:
        args.out.write_bytes(injected.SerializeToString())
    except OSError as exc:
        raise InputError(f"{args.out}: cannot write: {exc.strerror}") from exc
    added = Counter(n.op_type for n in injected.graph.node) - Counter(n.op_type for n in model.graph.node)
    ops = ", ".join(f"{op} x{count}" if count > 1 else op for op, count in sorted(added.items()))
    variant = " If" if args.gate == "if" else ""
    sys.stdout.write(
        f"{args.out}: L{args.level}{variant} backdoor, {trigger.describe()} -> {payload.describe()}\n"
        f"  {sum(added.values())} nodes added ({ops}); inputs and outputs unchanged\n"
    )
    return ExitCode.PASSED


def _load(path: Path) -> onnx.ModelProto:
    """Parse the model without following external-data references."""
    import onnx

    hint = "give an .onnx file (a serialized ModelProto)"
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from exc
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError (and RuntimeWarning-like errors) on garbage
        raise InputError(f"{path}: not an ONNX model", hint=hint) from exc
    if not model.graph.node or not model.opset_import:
        raise InputError(f"{path}: not an ONNX model (no graph)", hint=hint)
    if any(init.data_location == onnx.TensorProto.EXTERNAL for init in model.graph.initializer):
        raise InputError(
            f"{path}: the model keeps tensors in external data files",
            hint="save it as one file first (onnx.save(model, path, save_as_external_data=False))",
        )
    return model


def _trigger(args: argparse.Namespace) -> Trigger:
    from mlvet.redteam import Trigger

    text: str = args.trigger
    if args.kind == "image":
        top, left = _ints(args.patch_at, "--patch-at")
        return Trigger.of_image_patch(
            value=_float(text, "--trigger"), size=args.patch_size, top=top, left=left
        )
    if args.kind == "tokens":
        return Trigger.of_tokens(_ints(text, "--trigger"), position=args.position)
    if text.lower().startswith(("hex:", "0x")):
        digits = text.split(":", 1)[1] if ":" in text else text[2:]
        try:
            data = bytes.fromhex(digits)
        except ValueError as exc:
            raise UsageError(f"--trigger {text!r}: not hexadecimal") from exc
    else:
        data = text.encode()
    if not data:
        raise UsageError("--trigger is empty")
    return Trigger.of_bytes(data, position=args.position)


def _payload(text: str) -> Payload:
    from mlvet.redteam import Payload

    kind, _, rest = text.partition(":")
    if kind == "class":
        (target,) = _ints(rest, "--payload class:N", count=1)
        return Payload.force_class(target)
    if kind == "const":
        return Payload.constant(_floats(rest, "--payload const:V"))
    if kind == "steer" and "=" in rest:
        tensor, _, values = rest.partition("=")
        return Payload.steer(tensor, _floats(values, "--payload steer:TENSOR=V"))
    raise UsageError(f"--payload {text!r}: expected class:N, const:V[,V...] or steer:TENSOR=V[,V...]")


def _ints(text: str, option: str, count: int | None = None) -> list[int]:
    try:
        values = [int(part, 0) for part in text.split(",")]
    except ValueError as exc:
        raise UsageError(f"{option}: {text!r} is not a comma-separated list of integers") from exc
    if count is not None and len(values) != count:
        raise UsageError(f"{option}: expected {count} integer(s), got {text!r}")
    return values


def _floats(text: str, option: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",")]
    except ValueError as exc:
        raise UsageError(f"{option}: {text!r} is not a comma-separated list of numbers") from exc


def _float(text: str, option: str) -> float:
    try:
        return float(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {text!r} is not a number") from exc
