"""safetensors files: strict header validation (as the reference loader does) and metadata inspection.

Only the 8-byte length and the JSON header are read; tensor bytes never are, so the scan costs the same
for any file size. Bytes after the last tensor are sniffed, and scanned when they hold a known format.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import struct
from typing import Any

from mlvet.artifacts import Buffer, Format, sniff
from mlvet.findings import Location, Rule, Severity
from mlvet.scan.base import ScanContext

SAFETENSORS_MALFORMED = Rule(
    "MLV501",
    "Malformed safetensors header",
    Severity.HIGH,
    "The safetensors header is invalid: a length beyond the file or over the 100 MB cap, JSON that does "
    "not parse or repeats keys, an unknown dtype, offsets outside the data or overlapping, or a size "
    "that does not match the shape. The reference loader refuses such files, and readers that do not "
    "check have been exploited; a genuine writer never produces one. Treat the file as hostile.",
    ("https://github.com/huggingface/safetensors#format",),
)
SAFETENSORS_METADATA = Rule(
    "MLV502",
    "Code-like text in safetensors metadata",
    Severity.MEDIUM,
    "The free-form __metadata__ map holds text that looks like code, shell commands or an encoded pickle. "
    "safetensors never executes metadata, but a tool or script that reads it might; it is also a way to "
    "smuggle a payload. Inspect the metadata and where the file came from.",
)
SAFETENSORS_TRAILING = Rule(
    "MLV503",
    "Bytes after the last safetensors tensor",
    Severity.LOW,
    "The file continues after the data of its last tensor. The reference loader refuses such a file, and "
    "the extra bytes can carry a second file (a polyglot) that other tools read. mlvet scans them when it "
    "recognises their format.",
)

RULES: tuple[Rule, ...] = (SAFETENSORS_MALFORMED, SAFETENSORS_METADATA, SAFETENSORS_TRAILING)

MAX_HEADER_BYTES = 100_000_000
"""The reference implementation's cap on the JSON header."""
DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16, "U16": 16,
    "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "I64": 64, "U64": 64, "F64": 64, "C64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}  # fmt: skip
MAX_U64 = (1 << 64) - 1
MAX_METADATA_SCAN = 4 << 20
"""Characters of one metadata value searched for code."""

_CODE_HIGH = re.compile(
    r"__import__\s*\(|\bos\.(?:system|popen|exec\w*|spawn\w*)\s*\(|\bsubprocess\.\w+|\b(?:eval|exec)\s*\("
    r"|\b(?:pickle|marshal|dill)\.loads?\s*\(|<script\b|\b(?:curl|wget)\b[^|\n]{0,200}\|\s*(?:ba|z|da)?sh\b"
    r"|/bin/(?:ba)?sh\s+-c\b|\bpowershell(?:\.exe)?\s+-(?:e|enc|encodedcommand)\b|\bnc\s+-[ec]\b|\brm\s+-rf\s+/"
    r"|\bimport\s+(?:os|subprocess|socket|pty|ctypes|builtins|marshal)\b",
    re.IGNORECASE,
)
_CODE_MEDIUM = re.compile(
    r"^\s*(?:import\s+\w+|from\s+[\w.]+\s+import\s)|\bdef\s+\w+\s*\([^)]*\)\s*:|\$\([^)]+\)|javascript:",
    re.MULTILINE,
)
_BASE64_BLOB = re.compile(r"[A-Za-z0-9+/]{20,}={0,2}")


class _Malformed(Exception):
    """The header violates the format; ``offset`` points at the header byte concerned."""

    def __init__(self, reason: str, offset: int = 0, pointer: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset
        self.pointer = pointer


def scan_safetensors(data: Buffer, ctx: ScanContext) -> None:
    """Validate a safetensors file the way the reference loader does, then inspect its metadata."""
    try:
        header_length, header = _read_header(data)
        metadata = _metadata(header)
        data_end = _check_tensors(header)
    except _Malformed as exc:
        ctx.report(
            SAFETENSORS_MALFORMED,
            f"malformed safetensors header: {exc.reason}",
            location=Location(offset=exc.offset, pointer=exc.pointer),
            evidence={"reason": exc.reason},
        )
        return
    body = len(data) - 8 - header_length
    if data_end > body:
        ctx.report(
            SAFETENSORS_MALFORMED,
            f"malformed safetensors header: tensor data ends at byte {data_end} of a {body}-byte data area",
            location=Location(offset=8 + header_length + body),
            evidence={
                "reason": "data_offsets beyond the end of the file",
                "data_end": data_end,
                "body": body,
            },
        )
    elif data_end < body:
        _trailing(data, 8 + header_length + data_end, ctx)
    _inspect_metadata(metadata, ctx)


def _read_header(data: Buffer) -> tuple[int, dict[str, Any]]:
    if len(data) < 8:
        raise _Malformed(f"file of {len(data)} bytes is shorter than the 8-byte header length")
    (length,) = struct.unpack_from("<Q", data, 0)
    if length > MAX_HEADER_BYTES:
        raise _Malformed(f"header length {length} exceeds the {MAX_HEADER_BYTES}-byte cap")
    if length > len(data) - 8:
        raise _Malformed(f"header length {length} exceeds the {len(data) - 8} bytes after the length field")
    raw = bytes(data[8 : 8 + length])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Malformed(
            f"header is not UTF-8 ({exc.reason} at byte {8 + exc.start})", 8 + exc.start
        ) from None
    duplicates: list[str] = []
    try:
        header = json.loads(
            text,
            object_pairs_hook=lambda pairs: _object(pairs, duplicates),
            parse_constant=_reject_constant,
        )
    except json.JSONDecodeError as exc:
        raise _Malformed(f"header is not valid JSON ({exc.msg} at character {exc.pos})", 8) from None
    except RecursionError:
        raise _Malformed("header JSON is nested too deeply", 8) from None
    except ValueError as exc:
        raise _Malformed(f"header is not valid JSON ({exc})", 8) from None
    if duplicates:
        raise _Malformed(f"header repeats the key {duplicates[0]!r}; readers disagree on which one wins", 8)
    if not isinstance(header, dict):
        raise _Malformed(f"header is a JSON {type(header).__name__}, not an object", 8)
    return length, header


def _object(pairs: list[tuple[str, Any]], duplicates: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            duplicates.append(key)
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _metadata(header: dict[str, Any]) -> dict[str, str]:
    metadata = header.get("__metadata__")
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise _Malformed(
            f"__metadata__ is a {type(metadata).__name__}, not a map of strings", 8, "/__metadata__"
        )
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise _Malformed(
                f"__metadata__ value {key!r} is a {type(value).__name__}, not a string", 8, _ptr(key)
            )
    return metadata


def _check_tensors(header: dict[str, Any]) -> int:
    """Validates every tensor entry and the layout; returns where the last tensor's data ends."""
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        pointer = "/" + name.replace("~", "~0").replace("/", "~1")
        if not isinstance(entry, dict):
            raise _Malformed(
                f"tensor {name!r} is described by a {type(entry).__name__}, not an object", 8, pointer
            )
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in DTYPE_BITS:
            raise _Malformed(f"tensor {name!r} has unknown dtype {dtype!r}", 8, pointer)
        if not isinstance(shape, list) or not all(_is_u64(d) for d in shape):
            raise _Malformed(
                f"tensor {name!r} shape {shape!r} is not a list of non-negative integers", 8, pointer
            )
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_u64(o) for o in offsets)):
            raise _Malformed(f"tensor {name!r} data_offsets {offsets!r} is not a pair of offsets", 8, pointer)
        begin, end = offsets
        if end < begin:
            raise _Malformed(
                f"tensor {name!r} data_offsets [{begin}, {end}] end before they begin", 8, pointer
            )
        bits = DTYPE_BITS[dtype]
        for dim in shape:
            bits *= dim
        if bits % 8 or bits // 8 != end - begin:
            raise _Malformed(
                f"tensor {name!r} holds {end - begin} bytes but {dtype} {shape} needs {bits / 8:g}",
                8,
                pointer,
            )
        spans.append((begin, end, name))
    spans.sort()
    position = 0
    for begin, end, name in spans:
        if begin < position:
            raise _Malformed(f"tensor {name!r} data [{begin}, {end}) overlaps the previous tensor", 8)
        if begin > position:
            raise _Malformed(f"{begin - position} bytes before tensor {name!r} belong to no tensor", 8)
        position = end
    return position


def _is_u64(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_U64


def _ptr(key: str) -> str:
    return "/__metadata__/" + key.replace("~", "~0").replace("/", "~1")


def _trailing(data: Buffer, start: int, ctx: ScanContext) -> None:
    extra = len(data) - start
    kind = sniff(data[start : start + 4096]) if extra else Format.EMPTY
    ctx.report(
        SAFETENSORS_TRAILING,
        f"{extra} bytes follow the last tensor (content looks like {kind.value}); the reference loader "
        "refuses such files",
        location=Location(offset=start),
        evidence={"trailing_bytes": extra, "content": kind.value},
    )
    if kind not in (Format.UNKNOWN, Format.TEXT, Format.EMPTY, Format.MEDIA):
        if extra > ctx.settings.limits.max_member_bytes:
            return
        ctx.scan_member(memoryview(data)[start:], "trailing-data")


def _inspect_metadata(metadata: dict[str, str], ctx: ScanContext) -> None:
    for key, value in metadata.items():
        text = value[:MAX_METADATA_SCAN]
        location = Location(pointer=_ptr(key))
        match = _CODE_HIGH.search(text) or _CODE_HIGH.search(key)
        if match:
            ctx.report(
                SAFETENSORS_METADATA,
                f"metadata {key!r} contains code or a shell command ({match.group(0)[:80]!r})",
                location=location,
                evidence={
                    "key": key,
                    "match": match.group(0)[:200],
                    "excerpt": _excerpt(text, match.start()),
                },
                severity=Severity.HIGH,
            )
            continue
        if _encoded_payload(key, text, ctx):
            continue
        match = _CODE_MEDIUM.search(text)
        if match:
            ctx.report(
                SAFETENSORS_METADATA,
                f"metadata {key!r} looks like source code ({match.group(0).strip()[:80]!r})",
                location=location,
                evidence={
                    "key": key,
                    "match": match.group(0)[:200],
                    "excerpt": _excerpt(text, match.start()),
                },
            )


def _encoded_payload(key: str, text: str, ctx: ScanContext) -> bool:
    """Base64 blobs that decode to a pickle or to code; the pickle is scanned as a member."""
    for blob in _BASE64_BLOB.finditer(text):
        try:
            decoded = base64.b64decode(blob.group(0) + "=" * (-len(blob.group(0)) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        is_pickle = len(decoded) > 2 and decoded[0] == 0x80 and decoded[1] <= 5 and decoded[-1:] == b"."
        code = _CODE_HIGH.search(decoded[:MAX_METADATA_SCAN].decode("latin-1"))
        if is_pickle or code:
            what = "a pickle" if is_pickle else f"code ({code.group(0)[:60]!r})" if code else ""
            ctx.report(
                SAFETENSORS_METADATA,
                f"metadata {key!r} holds base64 that decodes to {what}",
                location=Location(pointer=_ptr(key)),
                evidence={"key": key, "decoded_bytes": len(decoded), "decoded_head": decoded[:64].hex()},
                severity=Severity.HIGH,
            )
            if is_pickle:
                ctx.scan_member(decoded, f"__metadata__/{key}", expect=Format.PICKLE)
            return True
    return False


def _excerpt(text: str, at: int) -> str:
    return text[max(0, at - 40) : at + 120]
