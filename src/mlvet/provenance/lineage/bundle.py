"""``*.intoto.jsonl`` bundles: one DSSE envelope per line, kept beside the artifact they describe.

``model.onnx`` has its bundle at ``model.onnx.intoto.jsonl`` (a directory ``model/`` at
``model.intoto.jsonl``). Each stage copies its input models' bundles into its output's bundle
before appending its own statement, so the deployed artifact's bundle alone holds the whole chain.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from mlvet.errors import InputError

SUFFIX: Final = ".intoto.jsonl"
MAX_BUNDLE_BYTES: Final = 64 * 1024 * 1024


@dataclass(frozen=True)
class BundleLine:
    """One line: its 1-based number, and the envelope object or why it is not one."""

    number: int
    envelope: dict[str, Any] | None
    error: str | None = None


def default_bundle(artifact: Path) -> Path:
    """Where the bundle of ``artifact`` lives unless told: ``<artifact>.intoto.jsonl`` beside it."""
    name = artifact.name or artifact.resolve().name
    return artifact.parent / f"{name}{SUFFIX}"


def read_lines(bundle: Path) -> list[str]:
    """The non-blank lines of ``bundle``, raw; InputError when it cannot be read at all."""
    return [line for line in _read_text(bundle).splitlines() if line.strip()]


def _read_text(bundle: Path) -> str:
    try:
        if bundle.stat().st_size > MAX_BUNDLE_BYTES:
            raise InputError(f"{bundle}: larger than {MAX_BUNDLE_BYTES >> 20} MiB, not an attestation bundle")
        text = bundle.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"{bundle}: no attestation bundle",
            hint="record stages with 'mlvet attest' (it writes <output>.intoto.jsonl), or pass --bundle",
        ) from None
    except IsADirectoryError:
        raise InputError(f"{bundle}: a directory, not an attestation bundle") from None
    except UnicodeDecodeError:
        raise InputError(f"{bundle}: not UTF-8 text, so not a JSON Lines bundle") from None
    except OSError as exc:
        raise InputError(f"{bundle}: cannot read: {exc.strerror or exc}") from None
    return text


def parse_bundle(bundle: Path) -> list[BundleLine]:
    """Every line of ``bundle`` parsed as JSON; a line that is not a JSON object keeps its error."""
    parsed: list[BundleLine] = []
    for number, line in enumerate(_read_text(bundle).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            parsed.append(BundleLine(number, None, f"not valid JSON: {exc.msg} (column {exc.colno})"))
            continue
        if not isinstance(value, dict):
            parsed.append(BundleLine(number, None, "not a JSON object"))
            continue
        parsed.append(BundleLine(number, value))
    return parsed


def append_envelopes(bundle: Path, inherited: Iterable[str], envelopes: Sequence[dict[str, Any]]) -> None:
    """Write ``bundle`` as its current lines, the ``inherited`` lines it lacks, then ``envelopes``.

    The file is replaced atomically, so a crash never leaves half a line behind.
    """
    existing = read_lines(bundle) if bundle.exists() else []
    present = set(existing)
    lines = list(existing)
    for line in inherited:
        if line not in present:
            lines.append(line)
            present.add(line)
    lines += [json.dumps(envelope, separators=(",", ":"), sort_keys=True) for envelope in envelopes]
    directory = bundle.parent if str(bundle.parent) else Path()
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{bundle.name}.", dir=directory)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write("".join(f"{line}\n" for line in lines))
        Path(temporary).replace(bundle)
    except OSError as exc:
        raise InputError(f"cannot write the attestation bundle {bundle}: {exc.strerror or exc}") from None
