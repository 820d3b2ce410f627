"""Legacy PyTorch files (``torch.save(..., _use_new_zipfile_serialization=False)``).

Such a file is five pickles back to back (magic number, protocol version, sys_info, the saved
object, the list of storage keys) followed by one raw record per storage key: an 8-byte
little-endian element count and the elements. The pickle scanner scans every consecutive pickle
(the magic number may be computed by a REDUCE, so nothing is skipped); this module accounts for
the storage records after them, so that bytes hidden behind the storages are found and scanned.
"""

from __future__ import annotations

import io
import pickletools
import warnings
from collections.abc import Sequence

from mlvet.artifacts import Buffer, Format, sniff
from mlvet.findings import Location, Rule, Severity
from mlvet.scan.base import ScanContext

LEGACY_LAYOUT = Rule(
    "MLV204",
    "Legacy PyTorch file carries data outside its layout",
    Severity.MEDIUM,
    "A legacy (non-zip) torch.save file ends after the raw storage records its key list announces. "
    "This file has bytes beyond them, or records that do not fit. torch.load never reads such "
    "bytes, but tools and second-stage loaders can, and they are a way to smuggle a pickle past "
    "scanners that stop at the storages. mlvet scanned any recognisable hidden content.",
)

RULES: tuple[Rule, ...] = (LEGACY_LAYOUT,)

LEGACY_PICKLES = 5
"""Magic number, protocol version, sys_info, the object and the storage keys."""
ELEMENT_SIZES = (1, 2, 4, 8, 16)
"""Bytes per element of every storage type (bool/uint8 ... complex128)."""
MAX_KEYS = 1_000_000
MAX_CANDIDATES = 1024
"""Record layouts followed at once (element sizes are not stored, so several sums are possible)."""
HIDDEN = "<after storages>"
_KEY_OPCODES = frozenset(
    {
        "PROTO", "FRAME", "EMPTY_LIST", "MARK", "BINPUT", "LONG_BINPUT", "MEMOIZE", "PUT", "BINUNICODE",
        "SHORT_BINUNICODE", "BINUNICODE8", "UNICODE", "APPEND", "APPENDS", "STOP",
    }
)  # fmt: skip
_INERT = (Format.UNKNOWN, Format.TEXT, Format.EMPTY, Format.MEDIA)


def storage_keys(data: Buffer, start: int, end: int) -> list[str] | None:
    """The storage-key pickle read as a literal list of strings, or None if it is anything else."""
    keys: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # genops warns about odd escapes in STRING arguments
            for opcode, argument, _ in pickletools.genops(io.BytesIO(bytes(data[start:end]))):
                if opcode.name not in _KEY_OPCODES:
                    return None
                if isinstance(argument, str) and opcode.name != "PUT":
                    keys.append(argument)
                    if len(keys) > MAX_KEYS:
                        return None
    except Exception:  # genops raises several types on malformed input: not a key list
        return None
    return keys


def storage_record_ends(data: Buffer, start: int, count: int) -> list[int]:
    """Every offset at which ``count`` storage records starting at ``start`` can end."""
    size = len(data)
    positions = {start}
    for _ in range(count):
        following: set[int] = set()
        for pos in sorted(positions):
            if pos + 8 > size:
                continue
            elements = int.from_bytes(bytes(data[pos : pos + 8]), "little")
            for element_size in ELEMENT_SIZES:
                end = pos + 8 + elements * element_size
                if end <= size:
                    following.add(end)
            if len(following) >= MAX_CANDIDATES:
                break
        positions = following
        if not positions:
            return []
    return sorted(positions)


def scan_legacy_tail(data: Buffer, ctx: ScanContext, pickle_ends: Sequence[int]) -> bool:
    """Account for the storage records after a legacy file's pickles; scan anything hidden after them.

    ``pickle_ends`` are the end offsets of the consecutive pickles at the start of ``data``. Returns
    True when the bytes after the pickles are a legacy storage region (the caller must then not
    treat them as garbage), False when the file does not have the legacy layout.
    """
    if len(pickle_ends) < LEGACY_PICKLES:
        return False
    keys_start, keys_end = pickle_ends[LEGACY_PICKLES - 2], pickle_ends[LEGACY_PICKLES - 1]
    keys = storage_keys(data, keys_start, keys_end)
    if keys is None:
        return False
    ends = storage_record_ends(data, keys_end, len(keys))
    if len(data) in ends:
        return True
    if not ends:
        ctx.report(
            LEGACY_LAYOUT,
            f"the {len(keys)} storage records announced by the key list do not fit in the file",
            location=Location(offset=keys_end),
            evidence={"storage_keys": len(keys)},
        )
        return True
    _report_hidden(data, ctx, ends)
    return True


def _report_hidden(data: Buffer, ctx: ScanContext, ends: list[int]) -> None:
    candidates = [end for end in ends if end < len(data)]
    recognised = [end for end in candidates if sniff(data[end : end + 4096]) not in _INERT]
    end = recognised[0] if recognised else candidates[-1]
    hidden = len(data) - end
    ctx.report(
        LEGACY_LAYOUT,
        f"{hidden} bytes follow the last storage record (torch.load never reads them)",
        location=Location(offset=end),
        evidence={"hidden_bytes": hidden},
    )
    if recognised:
        ctx.scan_member(data[end:], HIDDEN)
