"""Open artifacts safely and tell their format from their bytes, never from their names."""

from __future__ import annotations

import enum
import mmap
import pickletools
import re
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlvet._internal.protosniff import (
    looks_like_graph_def,
    looks_like_keras_metadata,
    looks_like_onnx,
    looks_like_saved_model,
)

Buffer = bytes | mmap.mmap | memoryview


class Format(enum.Enum):
    """Every content type mlvet recognises."""

    PICKLE = "pickle"
    ZIP = "zip"
    NUMPY = "numpy"
    TAR = "tar"
    SEVENZIP = "7z"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    LZMA = "lzma"
    ZSTD = "zstd"
    ZLIB = "zlib"
    HDF5 = "hdf5"
    ONNX = "onnx"
    SAVED_MODEL = "tf-saved-model"
    GGUF = "gguf"
    SAFETENSORS = "safetensors"
    JSON = "json"
    PYTHON = "python"
    TEMPLATE = "jinja-template"
    TEXT = "text"
    MEDIA = "media"
    EMPTY = "empty"
    UNKNOWN = "unknown"


PICKLE_FIRST_OPCODES = frozenset(b"(]})cilNVSIJKLMTUXFGdpqrahe.")
"""Bytes a protocol 0/1 pickle can plausibly start with (protocol 2+ starts with PROTO ``\\x80``)."""

_TEXT_BYTES = bytes(range(0x20, 0x100)) + b"\t\n\r\f"
"""Bytes plain text is made of (UTF-8 multi-byte sequences included); anything else marks binary."""
_TEXT_SNIFF_BYTES = 8192
"""Python files often open with a long licence header: look this far for code."""
_JSON_VALUE_START = rb'(?:[{"\]\-0-9]|true|false|null)'
_JSON_OPENING = re.compile(
    rb'(?:\{\s*(?:"|\})|\[\s*(?:\[\s*(?:' + _JSON_VALUE_START + rb"|\[)|" + _JSON_VALUE_START + rb"))"
)
"""A JSON object or array start; ``[[`` only when a JSON value follows (TOML's ``[[table]]`` does not)."""
_TEMPLATE_TAG = re.compile(rb"\{%-?\s*(?:for|if|set|macro)\b|\{\{-?\s*\w")
_PYTHON_LINE = re.compile(
    rb"^(?:from [\w.]+ import |import [\w.]+|def \w+\(|class \w+[(:]|#!.*python|if __name__ ==)", re.MULTILINE
)
_MEDIA_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"%PDF-", b"RIFF")


def sniff(data: Buffer) -> Format:
    """The format of ``data``, judged by magic numbers and structure."""
    size = len(data)
    if size == 0:
        return Format.EMPTY
    head = bytes(data[:512])
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return Format.ZIP
    if head.startswith(b"\x93NUMPY"):
        return Format.NUMPY
    if head.startswith(b"GGUF"):
        return Format.GGUF
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return Format.HDF5
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return Format.SEVENZIP
    if head.startswith(b"\x1f\x8b"):
        return Format.GZIP
    if head.startswith(b"BZh") and size > 4 and head[3:4].isdigit():
        return Format.BZIP2
    if head.startswith(b"\xfd7zXZ\x00"):
        return Format.XZ
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return Format.ZSTD
    if size >= 262 and head[257:262] == b"ustar":
        return Format.TAR
    if head.startswith(_MEDIA_MAGIC):
        return Format.MEDIA
    if _looks_like_safetensors(head, size):
        return Format.SAFETENSORS
    if head[0] == 0x80 and size > 1 and head[1] <= 5:
        return Format.PICKLE
    if _looks_like_zlib(head) or (head.startswith(b"ZF") and head[21:22] in (b"x", b" ")):
        return Format.ZLIB
    if head.startswith(b"\x5d\x00\x00") and size > 13:
        return Format.LZMA
    if not head.translate(None, _TEXT_BYTES):
        return _sniff_text(bytes(data[:_TEXT_SNIFF_BYTES]))
    if looks_like_onnx(data):
        return Format.ONNX
    if looks_like_saved_model(data) or looks_like_graph_def(data) or looks_like_keras_metadata(data):
        return Format.SAVED_MODEL
    if _looks_like_binary_pickle(head):
        return Format.PICKLE
    if _has_zip_directory(data):
        return Format.ZIP
    return Format.UNKNOWN


def _looks_like_safetensors(head: bytes, size: int) -> bool:
    """An 8-byte header length, then a JSON object (the length may lie: the scanner judges that)."""
    if size < 10:
        return False
    if all(0x20 <= byte < 0x7F for byte in head[:8]):
        return False  # text such as `value = {}`: as a length it would exceed any file (> 2 EB)
    (length,) = struct.unpack_from("<Q", head)
    return length >= 2 and head[8:9] == b"{" and head[9:10] in (b'"', b"}", b" ", b"\n")


def _looks_like_zlib(head: bytes) -> bool:
    """A zlib header (checksummed CMF/FLG pair) whose first block actually inflates."""
    if len(head) <= 2 or head[0] != 0x78 or (head[0] * 256 + head[1]) % 31:
        return False
    try:
        zlib.decompressobj().decompress(head, 64)
    except zlib.error:
        return False
    return True


def _sniff_text(head: bytes) -> Format:
    stripped = head.lstrip()
    if _JSON_OPENING.match(stripped):
        return Format.JSON
    if _PYTHON_LINE.search(head):
        return Format.PYTHON
    if _TEMPLATE_TAG.search(head) and b"message" in head:
        return Format.TEMPLATE
    if stripped[:1] and stripped[0] in PICKLE_FIRST_OPCODES and _pickle_protocol0_shape(stripped):
        return Format.PICKLE
    return Format.TEXT


def _pickle_protocol0_shape(head: bytes) -> bool:
    """A text-only protocol 0 pickle opens with GLOBAL, MARK or a constant and a newline soon after."""
    if head[:1] == b"c":
        line = head[1:].split(b"\n", 2)
        return len(line) >= 3 and line[0].replace(b".", b"").replace(b"_", b"").isalnum()
    return head[:1] in (b"(", b"]", b"}") and b"\n" in head[:64] and (b"\np" in head or head.endswith(b"."))


def _looks_like_binary_pickle(head: bytes) -> bool:
    """A protocol 1 pickle has no magic: accept it when its first opcodes decode and include a binary one."""
    if head[0] not in PICKLE_FIRST_OPCODES:
        return False
    decoded = 0
    try:
        for opcode, _, _ in pickletools.genops(head):
            decoded += 1
            if opcode.name == "STOP" or decoded >= 8:
                return True
    except (ValueError, UnicodeDecodeError, struct.error):
        pass
    return decoded >= 4


def _has_zip_directory(data: Buffer) -> bool:
    """A zip with junk before it still ends with an end-of-central-directory record."""
    tail = bytes(data[-(65536 + 22) :])
    return b"PK\x05\x06" in tail


@contextmanager
def open_buffer(path: Path) -> Iterator[Buffer]:
    """The bytes of ``path``: memory-mapped (read-only) when non-empty, so size costs nothing."""
    with path.open("rb") as handle:
        if path.stat().st_size == 0:
            yield b""
            return
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            yield mapped
