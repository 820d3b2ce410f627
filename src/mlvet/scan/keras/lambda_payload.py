"""What a serialized Keras lambda holds, told without turning it back into code.

Keras stores a Python lambda as base64 text of ``marshal.dumps(function.__code__)``. Unmarshalling
would build a code object, so this module only reads the raw bytes: it lists the strings marshal
stores with a type byte and a length (names, constants, the file name) and picks out the names a
harmless tensor expression has no use for.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from typing import Any

MAX_PAYLOAD_CHARS = 16 << 20
"""Longer base64 text is summarised by size only: no lambda needs megabytes of bytecode."""

MAX_NAMES = 48

SUSPICIOUS_NAMES = frozenset(
    {
        "os", "posix", "nt", "sys", "subprocess", "system", "popen", "Popen", "spawnl", "spawnv",
        "execv", "execve", "execl", "check_output", "check_call", "getoutput", "exec", "eval",
        "compile", "__import__", "import_module", "__builtins__", "builtins", "globals", "getattr",
        "socket", "connect", "urlopen", "urllib", "requests", "http", "environ", "getenv", "rmtree",
        "remove", "unlink", "marshal", "pickle", "loads", "ctypes", "shutil", "webbrowser", "pty",
        "runpy", "run_path", "open",
    }
)  # fmt: skip
"""Names that point at process, file, network or code-loading access from inside a layer function."""

_SHORT_ASCII = {ord("z"), ord("Z")}
"""marshal TYPE_SHORT_ASCII(_INTERNED): one length byte, then ASCII."""
_LONG_TEXT = {ord("a"), ord("A"), ord("u"), ord("t")}
"""marshal TYPE_ASCII(_INTERNED), TYPE_UNICODE, TYPE_INTERNED: four length bytes, then text."""
_BYTES = ord("s")
"""marshal TYPE_STRING (bytecode, line tables): four length bytes, then raw bytes."""
_CODE = ord("c")
_FLAG_REF = 0x80


@dataclass
class LambdaPayload:
    """A summary of one serialized function, safe to put into a finding's evidence."""

    kind: str
    """``marshal-code`` for a marshalled code object, ``opaque`` when it is not one, ``undecodable``."""
    size: int
    sha256: str = ""
    names: list[str] = field(default_factory=list)
    suspicious: list[str] = field(default_factory=list)

    def evidence(self) -> dict[str, Any]:
        summary: dict[str, Any] = {"payload": self.kind, "payload_bytes": self.size}
        if self.sha256:
            summary["payload_sha256"] = self.sha256
        if self.names:
            summary["strings"] = self.names
        if self.suspicious:
            summary["suspicious_names"] = self.suspicious
        return summary


def decode_lambda(text: str) -> LambdaPayload:
    """Decode Keras' base64 lambda text and summarise the bytes."""
    if len(text) > MAX_PAYLOAD_CHARS:
        return LambdaPayload("undecodable", len(text))
    try:
        raw = base64.b64decode(text.encode("ascii", "strict"), validate=False)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return LambdaPayload("undecodable", len(text))
    digest = hashlib.sha256(raw).hexdigest()
    if not raw or raw[0] & ~_FLAG_REF != _CODE:
        return LambdaPayload("opaque", len(raw), digest, _printable_runs(raw))
    names = marshal_strings(raw)
    suspicious = sorted({name for name in names if name in SUSPICIOUS_NAMES})
    return LambdaPayload("marshal-code", len(raw), digest, names, suspicious)


def marshal_strings(raw: bytes) -> list[str]:
    """The distinct strings a marshal stream stores, in order, read from type bytes and lengths.

    A tolerant scan, not a parser: a byte that does not start a recognised string is skipped, so
    the result is evidence for a reader, never a reconstruction.
    """
    found: dict[str, None] = {}
    position, end = 0, len(raw)
    while position < end and len(found) < MAX_NAMES:
        kind = raw[position] & ~_FLAG_REF
        if kind in _SHORT_ASCII and position + 1 < end:
            length = raw[position + 1]
            start = position + 2
        elif kind in _LONG_TEXT | {_BYTES} and position + 5 <= end:
            length = int.from_bytes(raw[position + 1 : position + 5], "little")
            start = position + 5
        else:
            position += 1
            continue
        chunk = raw[start : start + length]
        if length == 0 or len(chunk) != length:
            position += 1
            continue
        if kind == _BYTES:
            position = start + length
            continue
        value = _text(chunk)
        if value is None:
            position += 1
            continue
        found.setdefault(value[:120], None)
        position = start + length
    return list(found)


def _text(chunk: bytes) -> str | None:
    try:
        value = chunk.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return value if value.isprintable() else None


def _printable_runs(raw: bytes, minimum: int = 4) -> list[str]:
    """Runs of printable ASCII in bytes that are not a code object (like ``strings(1)``)."""
    runs: list[str] = []
    current = bytearray()
    for byte in raw[: 1 << 20]:
        if 32 <= byte < 127:
            current.append(byte)
            continue
        if len(current) >= minimum:
            runs.append(current.decode("ascii")[:120])
        current.clear()
        if len(runs) >= MAX_NAMES:
            break
    if len(current) >= minimum and len(runs) < MAX_NAMES:
        runs.append(current.decode("ascii")[:120])
    return runs
