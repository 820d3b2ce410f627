"""Static pickle analysis: a symbolic interpreter for protocols 0-5 that never unpickles.

``scan_pickle`` scans every pickle concatenated in a buffer (and resynchronises after a break);
a legacy torch file's storage records after its pickles go to ``pytorch.legacy``.
"""

from __future__ import annotations

import mmap
from typing import Any

from mlvet.artifacts import PICKLE_FIRST_OPCODES, Buffer
from mlvet.findings import ProblemKind
from mlvet.scan.base import ScanContext
from mlvet.scan.pickle.interpreter import Interpreter, Session
from mlvet.scan.pickle.opcodes import HIGHEST_PROTOCOL, PROTO
from mlvet.scan.pickle.rules import RULES
from mlvet.scan.pickle.walker import walk
from mlvet.scan.pytorch.legacy import scan_legacy_tail

__all__ = ["RULES", "scan_pickle"]

MAX_STREAMS = 1_000_000
RESYNC_WINDOW = 16 << 20
"""How far past a break to look for the next PROTO opcode."""
MAX_RESYNC_CANDIDATES = 256


def scan_pickle(data: Buffer, ctx: ScanContext) -> None:
    """Scan every pickle in ``data`` from offset 0; trailing non-pickle data is not an error.

    When the data is a run of complete pickles followed by other bytes (the legacy torch layout),
    the legacy torch scanner accounts for those bytes.
    """
    view = _indexable(data)
    end = len(view)
    session = Session()
    ends: list[int] = []
    """End offsets of the unbroken run of complete pickles from offset 0."""
    pos, stream, resyncing, candidates, window_end = 0, 0, False, 0, 0
    while pos < end and stream < MAX_STREAMS:
        it = Interpreter(view, ctx, session, pos, end, stream=stream)
        stop, complete = walk(it, pos)
        if stream > 0 and not complete and not it.suspicious:
            # Not a pickle after all: trailing data, or a false start while resynchronising.
            session.alternates.clear()
            candidates += 1
            next_start = _next_proto(view, pos + 1, window_end) if resyncing else None
            if next_start is None or candidates >= MAX_RESYNC_CANDIDATES:
                break
            pos = next_start
            continue
        _finish(it, session)
        stream += 1
        if complete:
            if len(ends) == stream - 1:
                ends.append(stop)
            resyncing = False
            pos = stop
            if pos < end and not _plausible_start(view, pos):
                break
        else:
            resyncing, candidates = True, 0
            window_end = min(end, stop + RESYNC_WINDOW)
            next_start = _next_proto(view, stop + 1, window_end)
            if next_start is None:
                break
            pos = next_start
    if stream >= MAX_STREAMS and pos < end:
        ctx.problem(
            ProblemKind.LIMIT, f"more than {MAX_STREAMS} concatenated pickles; the rest was not scanned"
        )
    elif ends and ends[-1] < end and len(ends) == stream:
        scan_legacy_tail(view, ctx, ends)


def _finish(it: Interpreter, session: Session) -> None:
    it.check_limits(("end", it.start, it.opcodes))
    it.finish()
    while session.alternates:
        alternate = session.alternates.pop()
        walk(alternate, alternate.start)
        alternate.finish()


def _indexable(data: Buffer) -> Any:
    """``bytes`` or ``mmap`` as they are (both index to ints and support ``find``); others copied."""
    if isinstance(data, bytes | mmap.mmap):
        return data
    return bytes(data)


def _plausible_start(view: Any, pos: int) -> bool:
    first = view[pos]
    if first == PROTO:
        return pos + 1 < len(view) and view[pos + 1] <= HIGHEST_PROTOCOL
    return first in PICKLE_FIRST_OPCODES


def _next_proto(view: Any, start: int, stop: int) -> int | None:
    while start < stop:
        found: int = view.find(b"\x80", start, stop)
        if found < 0 or found + 1 >= len(view):
            return None
        if view[found + 1] <= HIGHEST_PROTOCOL:
            return found
        start = found + 1
    return None
