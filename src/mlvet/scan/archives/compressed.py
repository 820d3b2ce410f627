"""Single compressed streams: gzip, bzip2, xz, lzma-alone, zstd and zlib (compressed joblib too).

The stream is decoded with a size cap and a ratio cap, and the result is scanned by content: a
``.tar.gz`` becomes a tar, a compressed joblib file becomes its pickle. A stream that expands past
``max_ratio`` is a bomb (MLV703); the part decoded before the cap is still scanned.
"""

from __future__ import annotations

from mlvet._internal.streams import Codec, decode, zstd_available
from mlvet.artifacts import Buffer, Format, sniff
from mlvet.findings import ProblemKind
from mlvet.scan.archives.members import MIN_BOMB_BYTES, report_bomb
from mlvet.scan.base import ScanContext

DECOMPRESSED = "<decompressed>"
TRAILING = "<trailing data>"
_MAGIC = {Codec.GZIP: b"\x1f\x8b", Codec.BZIP2: b"BZh", Codec.XZ: b"\xfd7zXZ\x00"}
"""Codecs whose files may hold several streams back to back, and how each stream starts."""
_WEAK_MAGIC = (Codec.ZLIB, Codec.LZMA_ALONE)
"""Codecs recognised by two or three bytes that ordinary text can also start with."""
_JOBLIB_ZFILE = b"ZF"
_JOBLIB_ZFILE_HEADER = 2 + 19
"""Old joblib (< 0.9.3) z-files: ``ZF``, the length in hex padded to 19 characters, then zlib."""


def scan_gzip(data: Buffer, ctx: ScanContext) -> None:
    """gzip, including files of several gzip members (each is decoded; the output is joined)."""
    _scan_stream(data, ctx, Codec.GZIP)


def scan_bzip2(data: Buffer, ctx: ScanContext) -> None:
    _scan_stream(data, ctx, Codec.BZIP2)


def scan_xz(data: Buffer, ctx: ScanContext) -> None:
    _scan_stream(data, ctx, Codec.XZ)


def scan_lzma(data: Buffer, ctx: ScanContext) -> None:
    """The legacy ``.lzma`` (LZMA-alone) format, used by joblib's ``compress='lzma'``."""
    _scan_stream(data, ctx, Codec.LZMA_ALONE)


def scan_zlib(data: Buffer, ctx: ScanContext) -> None:
    """A zlib stream (joblib's default compressor), or an old joblib z-file."""
    start = 0
    if bytes(data[:2]) == _JOBLIB_ZFILE:
        start = _JOBLIB_ZFILE_HEADER + (bytes(data[21:22]) == b" ")
    _scan_stream(data, ctx, Codec.ZLIB, start)


def scan_zstd(data: Buffer, ctx: ScanContext) -> None:
    """Zstandard frames; needs the ``archives`` extra (zstandard)."""
    if not zstd_available():
        ctx.problem(ProblemKind.MISSING_EXTRA, "zstd stream not scanned: pip install 'mlvet[archives]'")
        return
    _scan_stream(data, ctx, Codec.ZSTD)


def _scan_stream(data: Buffer, ctx: ScanContext, codec: Codec, start: int = 0) -> None:
    limits = ctx.settings.limits
    compressed = len(data) - start
    ratio_cap = max(MIN_BOMB_BYTES, compressed * limits.max_ratio)
    cap = min(limits.max_member_bytes, ratio_cap)
    pieces: list[bytes] = []
    produced, pos = 0, start
    magic = _MAGIC.get(codec)
    while True:
        result = decode(codec, data, cap - produced, start=pos)
        pieces.append(result.data)
        produced += len(result.data)
        if result.over_limit:
            if ratio_cap < limits.max_member_bytes:
                report_bomb(ctx, None, produced, compressed)
            ctx.problem(
                ProblemKind.LIMIT, f"decoding stopped after {produced} bytes; the rest was not examined"
            )
            break
        if not result.finished:
            if produced == 0 and pos == start:
                _not_a_stream(data, ctx, codec, result.error)
                return
            ctx.problem(
                ProblemKind.CORRUPT, f"{codec.value} stream damaged after {produced} bytes: {result.error}"
            )
            break
        pos += max(result.consumed, 1)
        if magic is None or bytes(data[pos : pos + len(magic)]) != magic:
            _scan_trailing(data, ctx, pos)
            break
    if not ctx.charge_decompressed(produced):
        return
    ctx.scan_member(b"".join(pieces), DECOMPRESSED)


def _not_a_stream(data: Buffer, ctx: ScanContext, codec: Codec, error: str | None) -> None:
    """Nothing decoded: text that merely starts like a zlib/lzma header is inert; else corrupt."""
    if codec in _WEAK_MAGIC and b"\x00" not in bytes(data[:512]):
        return
    ctx.problem(ProblemKind.CORRUPT, f"not a valid {codec.value} stream: {error}")


def _scan_trailing(data: Buffer, ctx: ScanContext, pos: int) -> None:
    """Bytes after the last stream: padding is ignored; anything recognisable is scanned."""
    if pos >= len(data) or not bytes(data[pos : pos + (1 << 20)]).strip(b"\x00"):
        return
    trailing = data[pos:]
    if sniff(trailing) not in (Format.UNKNOWN, Format.TEXT, Format.EMPTY, Format.MEDIA):
        ctx.scan_member(trailing, TRAILING)
