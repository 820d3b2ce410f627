"""SHA-256 of many files at once, in threads (hashlib and file reads release the GIL)."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from mlvet.env.record import encode_digest

_CHUNK = 1 << 20
_BATCH_FILES = 64
_BATCH_BYTES = 8 << 20
_buffers = threading.local()
NOT_REGULAR = "not a regular file"


@dataclass(frozen=True)
class FileHash:
    """The digest (RECORD spelling) and size of one file, or why it could not be read."""

    digest: str | None
    size: int | None
    error: str | None = None


def default_workers() -> int:
    """Two threads per core: one reads while the other hashes."""
    return max(2, min(32, 2 * (os.cpu_count() or 1)))


def hash_file(path: str) -> FileHash:
    """sha256 of one file (a symlink is hashed as its target), read through one reused buffer per thread."""
    buffer = getattr(_buffers, "buffer", None)
    if buffer is None:
        buffer = _buffers.buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    digest = hashlib.sha256()
    size = 0
    try:
        handle = open_regular(path)
        if handle is None:
            return FileHash(None, None, NOT_REGULAR)
        with handle:
            while count := handle.readinto(buffer):
                digest.update(view[:count])
                size += count
    except OSError as exc:
        return FileHash(None, None, exc.strerror or str(exc))
    return FileHash(encode_digest(digest.digest()), size)


def open_regular(path: str) -> io.FileIO | None:
    """``path`` opened for reading, or None when it is not a regular file (a FIFO, a device).

    Opened non-blocking and checked before reading, so a FIFO or ``/dev/zero`` planted in place of a
    recorded file cannot hang the verification.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        return None
    return io.FileIO(descriptor, "rb", closefd=True)


def hash_files(
    files: Iterable[tuple[str, int | None]],
    *,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, FileHash]:
    """Every file's hash, given ``(path, expected size)``; ``progress`` receives bytes as batches finish.

    Small files travel in batches (one task per file costs more than hashing it); files are hashed in
    the order given, so pass the biggest first to keep every thread busy to the end.
    """
    batches: list[list[str]] = []
    current: list[str] = []
    current_bytes = 0
    seen: set[str] = set()
    for path, size in files:
        if path in seen:
            continue
        seen.add(path)
        current.append(path)
        current_bytes += size or 0
        if len(current) >= _BATCH_FILES or current_bytes >= _BATCH_BYTES:
            batches.append(current)
            current, current_bytes = [], 0
    if current:
        batches.append(current)
    results: dict[str, FileHash] = {}
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        for batch, hashed in zip(batches, pool.map(_hash_batch, batches), strict=True):
            results.update(zip(batch, hashed, strict=True))
            if progress is not None:
                progress(sum(h.size or 0 for h in hashed))
    return results


def _hash_batch(paths: list[str]) -> list[FileHash]:
    return [hash_file(path) for path in paths]
