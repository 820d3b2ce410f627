"""7z archives, decoded through the optional ``py7zr`` into memory sinks: nothing touches the disk.

Every member is scanned by content (a ``model.bin`` is as interesting as a ``.pkl``); the output
of the whole archive is bounded by the ratio and size limits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any, cast

from mlvet._internal.streams import BufferFile
from mlvet.artifacts import Buffer
from mlvet.findings import Location, ProblemKind
from mlvet.scan.archives.members import ENCRYPTED_MEMBER, MemberWalk, report_bomb, unsafe_path_reason
from mlvet.scan.base import ScanContext

MISSING_PY7ZR = "7z archive not scanned: pip install 'mlvet[archives]'"


class _TooLarge(Exception):
    """A member's output passed its cap; raised from inside py7zr to stop decoding."""


class _Sink:
    """A py7zr writer that keeps a member in memory up to a cap and reports back when it is closed."""

    def __init__(self, name: str, cap: int, on_close: Callable[[_Sink], None]) -> None:
        self.name = name
        self.cap = cap
        self.parts: list[bytes] = []
        self.length = 0
        self.closed = False
        self._on_close = on_close

    def write(self, data: bytes | bytearray) -> int:
        room = self.cap - self.length
        if len(data) > room:
            self.parts.append(bytes(data[:room]))
            self.length += room
            raise _TooLarge(self.name)
        self.parts.append(bytes(data))
        self.length += len(data)
        return len(data)

    def read(self, size: int | None = None) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def flush(self) -> None:
        return None

    def size(self) -> int:
        return self.length

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._on_close(self)

    def content(self) -> bytes:
        return b"".join(self.parts)


class _Extraction:
    """The py7zr writer factory: one sink per member, scanned as soon as py7zr finishes it."""

    def __init__(self, walk: MemberWalk, archive_size: int, symlinks: set[str]) -> None:
        self.walk = walk
        self.archive_size = archive_size
        self.symlinks = symlinks
        limits = walk.limits
        self.ratio_budget = max(1 << 20, archive_size * limits.max_ratio)
        self.produced = 0
        self.sinks: list[_Sink] = []

    def create(self, filename: str) -> _Sink:
        limits = self.walk.limits
        cap = max(0, min(limits.max_member_bytes, self.ratio_budget - self.produced))
        sink = _Sink(filename, cap, self._finished)
        self.sinks.append(sink)
        return sink

    def _finished(self, sink: _Sink) -> None:
        self.produced += sink.length
        data = sink.content()
        sink.parts.clear()
        if sink.name in self.symlinks:
            self.walk.link(sink.name, data[:4096].decode("utf-8", "replace"), hard=False)
            return
        self.walk.account(sink.name, len(data), 0, over_limit=False, ratio_bound=False)
        if not self.walk.stopped:
            self.walk.scan(data, sink.name)

    def overflowed(self, sink: _Sink) -> None:
        """A member passed its cap: report it, then scan the part that was decoded."""
        ratio_bound = self.produced + sink.length >= self.ratio_budget
        self.walk.account(sink.name, sink.length, 0, over_limit=True, ratio_bound=False)
        if ratio_bound:
            report_bomb(self.walk.ctx, sink.name, self.produced + sink.length, self.archive_size)
        sink.closed = True
        self.walk.scan(sink.content(), sink.name)


def scan_7z(data: Buffer, ctx: ScanContext) -> None:
    """Scan every member of a 7z archive; needs the ``archives`` extra (py7zr)."""
    try:
        import py7zr
    except ImportError:
        ctx.problem(ProblemKind.MISSING_EXTRA, MISSING_PY7ZR)
        return
    walk = MemberWalk(ctx)
    try:
        archive = py7zr.SevenZipFile(cast(IO[bytes], BufferFile(data)), mode="r")
    except py7zr.exceptions.PasswordRequired:
        _encrypted(ctx)
        return
    except Exception as exc:  # py7zr raises many types on hostile input; all mean "cannot parse"
        ctx.problem(ProblemKind.CORRUPT, f"not a readable 7z archive: {type(exc).__name__}: {exc}")
        return
    with archive:
        if archive.needs_password():
            _encrypted(ctx)
            return
        _extract(py7zr, archive, walk, len(data))


def _encrypted(ctx: ScanContext) -> None:
    ctx.report(ENCRYPTED_MEMBER, "7z archive is password-protected", location=Location())
    ctx.problem(ProblemKind.UNSUPPORTED, "encrypted 7z archive not scanned")


def _extract(py7zr: Any, archive: Any, walk: MemberWalk, archive_size: int) -> None:
    targets: list[str] = []
    symlinks: set[str] = set()
    for info in archive.list():
        name = str(info.filename)
        if not walk.admit(name) or info.is_directory:
            if walk.count > walk.limits.max_entries:
                break
            continue
        if unsafe_path_reason(name) is not None:
            walk.ctx.problem(ProblemKind.UNSUPPORTED, f"{name}: member with an unsafe path not decoded")
            continue
        if info.is_symlink:
            symlinks.add(name)
        targets.append(name)
    if not targets:
        return
    extraction = _Extraction(walk, archive_size, symlinks)
    try:
        archive.extract(targets=targets, factory=extraction)
    except _TooLarge:
        extraction.overflowed(next(s for s in reversed(extraction.sinks) if not s.closed))
    except Exception as exc:  # a damaged stream: scan what was decoded, report the rest
        unfinished = [s for s in extraction.sinks if not s.closed and s.length]
        for sink in unfinished:
            sink.closed = True
            walk.scan(sink.content(), sink.name)
        walk.ctx.problem(ProblemKind.CORRUPT, f"7z archive damaged: {type(exc).__name__}: {exc}")
