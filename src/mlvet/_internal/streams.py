"""Bounded decompression and read-only file views over in-memory buffers.

Every decoder here stops once it has produced ``cap`` bytes, whatever sizes the stream
claims, so a hostile input can cost at most ``cap`` bytes of memory.
"""

from __future__ import annotations

import bz2
import enum
import io
import lzma
import zlib
from dataclasses import dataclass
from typing import IO, Any, Protocol, cast

from mlvet.artifacts import Buffer

CHUNK = 1 << 20
"""Compressed bytes handed to a decoder at a time (keeps a huge mmap from being copied at once)."""

_DECODE_ERRORS = (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError, MemoryError)


class Codec(enum.Enum):
    """The stream encodings mlvet can decode."""

    DEFLATE = "deflate"
    """Raw deflate (zip method 8)."""
    ZLIB = "zlib"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    LZMA_ALONE = "lzma"
    ZSTD = "zstd"


@dataclass(frozen=True)
class Inflated:
    """What a bounded decode produced and why it stopped."""

    data: bytes
    finished: bool
    """The stream reached its end marker."""
    over_limit: bool = False
    """Decoding stopped because the output would have exceeded the cap."""
    error: str | None = None
    """Why the stream could not be decoded further (damaged or truncated)."""
    consumed: int = 0
    """Input bytes the stream used (meaningful when ``finished``)."""


class _Decoder(Protocol):
    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    @property
    def hungry(self) -> bool:
        """True when the decoder cannot produce more output without more input."""
        ...

    @property
    def held(self) -> int:
        """Input bytes received but not yet consumed."""
        ...

    def feed(self, chunk: bytes, room: int) -> bytes: ...


class _ZlibDecoder:
    def __init__(self, wbits: int) -> None:
        self._inner = zlib.decompressobj(wbits)
        self._tail = b""

    @property
    def eof(self) -> bool:
        return self._inner.eof

    @property
    def unused_data(self) -> bytes:
        return self._inner.unused_data

    @property
    def hungry(self) -> bool:
        return not self._tail

    @property
    def held(self) -> int:
        return len(self._tail)

    def feed(self, chunk: bytes, room: int) -> bytes:
        data = self._tail + chunk if self._tail else chunk
        out = self._inner.decompress(data, max(1, room))
        self._tail = self._inner.unconsumed_tail
        return out


class _BufferedDecoder:
    """bz2 and lzma decoders share one interface (``max_length`` plus ``needs_input``)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    @property
    def eof(self) -> bool:
        return bool(self._inner.eof)

    @property
    def unused_data(self) -> bytes:
        return bytes(self._inner.unused_data)

    @property
    def hungry(self) -> bool:
        return bool(self._inner.needs_input)

    @property
    def held(self) -> int:
        return 0

    def feed(self, chunk: bytes, room: int) -> bytes:
        return bytes(self._inner.decompress(chunk, max_length=max(1, room)))


def lzma_raw_filters(properties: bytes) -> list[dict[str, int]]:
    """LZMA1 filter settings from the 5-byte properties block (zip method 14); ValueError if invalid."""
    if len(properties) < 5 or properties[0] >= 9 * 5 * 5:
        raise ValueError("invalid LZMA properties")
    lc_lp_pb = properties[0]
    dict_size = int.from_bytes(properties[1:5], "little")
    return [
        {
            "id": lzma.FILTER_LZMA1,
            "lc": lc_lp_pb % 9,
            "lp": (lc_lp_pb // 9) % 5,
            "pb": lc_lp_pb // 45,
            "dict_size": max(dict_size, 4096),
        }
    ]


def _decoder(codec: Codec, filters: list[dict[str, int]] | None = None) -> _Decoder:
    if codec is Codec.DEFLATE:
        return _ZlibDecoder(-15)
    if codec is Codec.ZLIB:
        return _ZlibDecoder(15)
    if codec is Codec.GZIP:
        return _ZlibDecoder(31)
    if codec is Codec.BZIP2:
        return _BufferedDecoder(bz2.BZ2Decompressor())
    if codec is Codec.XZ:
        return _BufferedDecoder(lzma.LZMADecompressor(lzma.FORMAT_XZ))
    if codec is Codec.LZMA_ALONE:
        return _BufferedDecoder(lzma.LZMADecompressor(lzma.FORMAT_ALONE))
    raise ValueError(f"no incremental decoder for {codec.value}")


def decode(
    codec: Codec,
    source: Buffer,
    cap: int,
    *,
    start: int = 0,
    end: int | None = None,
    lzma_filters: list[dict[str, int]] | None = None,
) -> Inflated:
    """Decode one stream of ``codec`` from ``source[start:end]``, producing at most ``cap`` bytes."""
    stop = len(source) if end is None else min(end, len(source))
    if codec is Codec.ZSTD:
        return _decode_zstd(source, start, stop, cap)
    try:
        if lzma_filters is not None:
            decoder: _Decoder = _BufferedDecoder(lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=lzma_filters))
        else:
            decoder = _decoder(codec)
    except _DECODE_ERRORS as exc:
        return Inflated(b"", finished=False, error=str(exc))
    return _drain(decoder, source, start, stop, cap)


def _drain(decoder: _Decoder, source: Buffer, start: int, end: int, cap: int) -> Inflated:
    pieces: list[bytes] = []
    total = 0
    pos = start
    idle = 0
    try:
        while not decoder.eof:
            chunk = b""
            if decoder.hungry and pos < end:
                chunk = bytes(source[pos : min(end, pos + CHUNK)])
                pos += len(chunk)
            held = decoder.held
            piece = decoder.feed(chunk, cap + 1 - total)
            if piece:
                pieces.append(piece)
                total += len(piece)
                if total > cap:
                    return Inflated(b"".join(pieces)[:cap], finished=False, over_limit=True)
            progressed = bool(piece or chunk) or decoder.held != held or decoder.eof
            idle = 0 if progressed else idle + 1
            if idle >= 2:
                return Inflated(b"".join(pieces), finished=False, error="stream ends before its end marker")
    except _DECODE_ERRORS as exc:
        return Inflated(b"".join(pieces), finished=False, error=f"damaged stream: {exc}")
    consumed = pos - start - len(decoder.unused_data) - decoder.held
    return Inflated(b"".join(pieces), finished=True, consumed=consumed)


def _decode_zstd(source: Buffer, start: int, end: int, cap: int) -> Inflated:
    import zstandard  # optional extra; callers check zstd_available() first

    pieces: list[bytes] = []
    total = 0
    view = BufferFile(source, start, end)
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(
            cast(IO[bytes], view), read_size=CHUNK, read_across_frames=True
        )
        while True:
            piece = reader.read(min(CHUNK, cap + 1 - total))
            if not piece:
                break
            pieces.append(piece)
            total += len(piece)
            if total > cap:
                return Inflated(b"".join(pieces)[:cap], finished=False, over_limit=True)
    except (zstandard.ZstdError, *_DECODE_ERRORS) as exc:
        return Inflated(b"".join(pieces), finished=False, error=f"damaged stream: {exc}")
    return Inflated(b"".join(pieces), finished=True, consumed=end - start)


def zstd_available() -> bool:
    """Whether the optional ``zstandard`` package can be imported."""
    try:
        import zstandard  # noqa: F401
    except ImportError:
        return False
    return True


class BufferFile(io.RawIOBase):
    """A read-only, seekable file over ``data[start:end]`` that copies only what is read."""

    def __init__(self, data: Buffer, start: int = 0, end: int | None = None) -> None:
        super().__init__()
        self._data = data
        self._start = start
        self._end = len(data) if end is None else min(end, len(data))
        self._pos = start

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos - self._start

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: self._start, io.SEEK_CUR: self._pos, io.SEEK_END: self._end}[whence]
        self._pos = max(self._start, base + offset)
        return self._pos - self._start

    def read(self, size: int | None = -1) -> bytes:
        stop = self._end if size is None or size < 0 else min(self._end, self._pos + size)
        if self._pos >= stop:
            return b""
        data = bytes(self._data[self._pos : stop])
        self._pos = stop
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
