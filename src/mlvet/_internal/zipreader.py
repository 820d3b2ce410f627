"""A relaxed zip reader: reads what PyTorch and other lenient loaders read, and says what is odd.

Python's ``zipfile`` refuses archives with unusual flag bits, a CRC mismatch or a local name that
differs from the central one; PyTorch loads them anyway, which is how scanner-evasion samples are
built (CVE-2025-1944, CVE-2025-1945, CVE-2025-10156). This reader parses the central directory
itself, tolerates a junk prefix, falls back to local headers when the directory is missing, reads
members by their local header, and records every oddity as an ``Anomaly`` instead of failing.
Declared sizes are never trusted for allocation.
"""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass, field, replace

from mlvet._internal.streams import Codec, Inflated, decode, lzma_raw_filters, zstd_available
from mlvet.artifacts import Buffer

LOCAL_MAGIC = b"PK\x03\x04"
CENTRAL_MAGIC = b"PK\x01\x02"
EOCD_MAGIC = b"PK\x05\x06"
ZIP64_LOCATOR_MAGIC = b"PK\x06\x07"
ZIP64_EOCD_MAGIC = b"PK\x06\x06"
DESCRIPTOR_MAGIC = b"PK\x07\x08"

_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_LOCAL = struct.Struct("<4s5H3L2H")

FLAG_ENCRYPTED = 0x1
FLAG_DESCRIPTOR = 0x8
FLAG_PATCHED = 0x20
FLAG_STRONG_ENCRYPTION = 0x40
FLAG_UTF8 = 0x800
REJECTED_FLAGS = FLAG_ENCRYPTED | FLAG_PATCHED | FLAG_STRONG_ENCRYPTION
"""Flag bits that make Python's zipfile refuse a member while PyTorch ignores them (CVE-2025-1945)."""

STORED, DEFLATED, BZIP2, LZMA, ZSTD, XZ = 0, 8, 12, 14, 93, 95
_UNIX = 3
_S_IFMT, _S_IFLNK = 0o170000, 0o120000
_VIEW_FROM = 16 << 20
"""Stored members this large are handed out as zero-copy memoryviews."""
_CRC_UP_TO = 64 << 20
"""Larger members are not CRC-checked (the check matters for pickles, which are small)."""
_MAX_GAP_SCAN = 64 << 20
"""Unlisted bytes searched for hidden local headers (beyond that, only the first 64 MiB of a gap)."""


class ZipError(Exception):
    """The bytes are not a zip archive at all."""


class AnomalyKind(enum.Enum):
    """Structural oddities a lenient loader accepts and a strict reader rejects."""

    PREFIX = "junk-prefix"
    FLAG_BITS = "flag-bits"
    NAME_MISMATCH = "name-mismatch"
    CRC_MISMATCH = "crc-mismatch"
    NO_CENTRAL_DIRECTORY = "no-central-directory"
    DAMAGED_CENTRAL_DIRECTORY = "damaged-central-directory"
    UNLISTED_MEMBER = "unlisted-member"
    MISSING_LOCAL_HEADER = "missing-local-header"
    OVERLAP = "overlapping-members"


@dataclass(frozen=True)
class Anomaly:
    kind: AnomalyKind
    detail: str
    member: str | None = None


@dataclass(frozen=True)
class ZipEntry:
    """One member, as the central directory (or, failing that, its local header) describes it."""

    name: str
    flags: int
    method: int
    crc: int | None
    """None when unknown (a streamed member found without its directory entry)."""
    compressed_size: int
    size: int
    """The declared uncompressed size: evidence only, never an allocation size."""
    header_offset: int
    """Where the local header actually is in the buffer (the junk-prefix delta applied)."""
    external_attr: int = 0
    create_system: int = 0
    listed: bool = True
    """False for a member found only by its local header."""
    local_name: str | None = None
    local_flags: int = 0
    data_offset: int | None = None
    """Start of the member's data; None when no local header was found."""

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/") and self.compressed_size == 0

    @property
    def is_symlink(self) -> bool:
        return self.create_system == _UNIX and (self.external_attr >> 16) & _S_IFMT == _S_IFLNK

    @property
    def all_flags(self) -> int:
        return self.flags | self.local_flags


@dataclass(frozen=True)
class MemberData:
    """A member's bytes, read with a cap."""

    data: Buffer
    complete: bool
    """Every byte of the member was produced."""
    over_limit: bool = False
    crc_ok: bool | None = None
    """None when the CRC was not checked (incomplete read)."""
    error: str | None = None


@dataclass
class ZipArchive:
    """A parsed archive: its members in directory order and what was odd about it."""

    data: Buffer
    entries: list[ZipEntry]
    anomalies: list[Anomaly] = field(default_factory=list)
    truncated: bool = False
    """More members were listed than ``max_entries`` allowed to parse."""

    def read(self, entry: ZipEntry, cap: int) -> MemberData:
        """The member's bytes (at most ``cap``), decompressed; stored members are sliced, not decoded."""
        if entry.data_offset is None:
            return MemberData(b"", complete=False, error="no local header at the recorded offset")
        start = entry.data_offset
        end = min(len(self.data), start + entry.compressed_size)
        if entry.method == STORED:
            stop = start + min(end - start, cap)
            chunk = self.data[start:stop] if stop - start < _VIEW_FROM else memoryview(self.data)[start:stop]
            complete = stop == end and end - start == entry.compressed_size
            crc_ok = _crc_matches(chunk, entry.crc) if complete else None
            error = (
                None if end - start == entry.compressed_size else "member data runs past the end of the file"
            )
            return MemberData(chunk, complete, over_limit=end - start > cap, crc_ok=crc_ok, error=error)
        inflated = self._inflate(entry, start, end, cap)
        if isinstance(inflated, str):
            return MemberData(b"", complete=False, error=inflated)
        complete = inflated.finished or (inflated.error is None and len(inflated.data) == entry.size)
        if not complete and entry.method == LZMA and len(inflated.data) == entry.size:
            complete = True  # raw LZMA without an end marker stops at the declared size
        crc_ok = _crc_matches(inflated.data, entry.crc) if complete else None
        error = None if complete else inflated.error
        return MemberData(inflated.data, complete, inflated.over_limit, crc_ok, error)

    def read_head(self, entry: ZipEntry, size: int) -> bytes:
        """At most ``size`` leading bytes of the member (cheap: never decodes more than that)."""
        result = self.read(entry, size)
        return bytes(result.data[:size])

    def _inflate(self, entry: ZipEntry, start: int, end: int, cap: int) -> Inflated | str:
        if entry.method == DEFLATED:
            return decode(Codec.DEFLATE, self.data, cap, start=start, end=end)
        if entry.method == BZIP2:
            return decode(Codec.BZIP2, self.data, cap, start=start, end=end)
        if entry.method == XZ:
            return decode(Codec.XZ, self.data, cap, start=start, end=end)
        if entry.method == ZSTD and zstd_available():
            return decode(Codec.ZSTD, self.data, cap, start=start, end=end)
        if entry.method == LZMA:
            header = bytes(self.data[start : start + 4])
            if len(header) < 4:
                return "truncated LZMA header"
            props_size = int.from_bytes(header[2:4], "little")
            try:
                filters = lzma_raw_filters(bytes(self.data[start + 4 : start + 4 + props_size]))
            except ValueError as exc:
                return str(exc)
            return decode(
                Codec.XZ, self.data, cap, start=start + 4 + props_size, end=end, lzma_filters=filters
            )
        return f"compression method {entry.method} is not supported"


def _crc_matches(data: Buffer, crc: int | None) -> bool | None:
    if crc is None or len(data) > _CRC_UP_TO:
        return None
    return zlib.crc32(data) == crc


def _find(data: Buffer, needle: bytes, start: int = 0, end: int | None = None) -> int:
    """``bytes.find`` for every Buffer (a memoryview has no ``find``; its window is copied)."""
    stop = len(data) if end is None else min(end, len(data))
    if isinstance(data, memoryview):
        found = bytes(data[start:stop]).find(needle)
        return found + start if found >= 0 else -1
    return data.find(needle, start, stop)


def _rfind(data: Buffer, needle: bytes, start: int, end: int) -> int:
    if isinstance(data, memoryview):
        found = bytes(data[start:end]).rfind(needle)
        return found + start if found >= 0 else -1
    return data.rfind(needle, start, end)


def open_zip(data: Buffer, *, max_entries: int = 100_000) -> ZipArchive:
    """Parse ``data`` as a zip archive; raises ``ZipError`` only when it is not one at all."""
    anomalies: list[Anomaly] = []
    entries: list[ZipEntry] = []
    truncated = False
    try:
        entries, truncated = _read_central_directory(data, max_entries, anomalies)
    except ZipError as exc:
        if _find(data, LOCAL_MAGIC) < 0:
            raise
        anomalies.append(Anomaly(AnomalyKind.NO_CENTRAL_DIRECTORY, f"{exc}; members found by local headers"))
    entries = [_attach_local_header(data, entry, anomalies) for entry in entries]
    if not truncated:
        entries += _unlisted_members(data, entries, anomalies, max_entries - len(entries))
    _note_overlaps(entries, anomalies)
    return ZipArchive(data, entries, anomalies, truncated)


def _find_eocd(data: Buffer) -> int:
    size = len(data)
    floor = max(0, size - (0xFFFF + _EOCD.size))
    pos = size
    while True:
        pos = _rfind(data, EOCD_MAGIC, floor, pos)
        if pos < 0:
            raise ZipError("no end-of-central-directory record")
        if pos + _EOCD.size <= size:
            return pos


def _read_central_directory(
    data: Buffer, max_entries: int, anomalies: list[Anomaly]
) -> tuple[list[ZipEntry], bool]:
    eocd = _find_eocd(data)
    _, _, _, _, count, cd_size, cd_offset, _ = _EOCD.unpack_from(data, eocd)
    directory_end = eocd
    zip64 = _read_zip64_eocd(data, eocd) if eocd >= _ZIP64_LOCATOR.size else None
    if zip64 is not None:
        count, cd_size, cd_offset, directory_end = zip64
    actual = directory_end - cd_size
    if actual >= 0 and bytes(data[actual : actual + 4]) in (CENTRAL_MAGIC, EOCD_MAGIC, ZIP64_EOCD_MAGIC):
        delta = actual - cd_offset
    elif bytes(data[cd_offset : cd_offset + 4]) == CENTRAL_MAGIC:
        delta, actual = 0, cd_offset
    else:
        raise ZipError("central directory not found where the end record says")
    if delta > 0:
        anomalies.append(Anomaly(AnomalyKind.PREFIX, f"{delta} bytes precede the archive (offsets shifted)"))
    return _parse_entries(data, actual, directory_end, count, delta, max_entries, anomalies)


def _read_zip64_eocd(data: Buffer, eocd: int) -> tuple[int, int, int, int] | None:
    locator = eocd - _ZIP64_LOCATOR.size
    magic, _, record_offset, _ = _ZIP64_LOCATOR.unpack_from(data, locator)
    if magic != ZIP64_LOCATOR_MAGIC:
        return None
    candidates = [record_offset, locator - _ZIP64_EOCD.size]
    for offset in candidates:
        if (
            0 <= offset <= len(data) - _ZIP64_EOCD.size
            and bytes(data[offset : offset + 4]) == ZIP64_EOCD_MAGIC
        ):
            fields = _ZIP64_EOCD.unpack_from(data, offset)
            return fields[7], fields[8], fields[9], offset
    return None


def _parse_entries(
    data: Buffer,
    pos: int,
    end: int,
    count: int,
    delta: int,
    max_entries: int,
    anomalies: list[Anomaly],
) -> tuple[list[ZipEntry], bool]:
    entries: list[ZipEntry] = []
    while pos + _CENTRAL.size <= end and bytes(data[pos : pos + 4]) == CENTRAL_MAGIC:
        if len(entries) >= max_entries:
            return entries, True
        fields = _CENTRAL.unpack_from(data, pos)
        made_by, flags, method = fields[1], fields[3], fields[4]
        crc, csize, usize = fields[7], fields[8], fields[9]
        name_len, extra_len, comment_len = fields[10], fields[11], fields[12]
        external_attr, offset = fields[15], fields[16]
        body = pos + _CENTRAL.size
        raw_name = bytes(data[body : body + name_len])
        extra = bytes(data[body + name_len : body + name_len + extra_len])
        usize, csize, offset = _apply_zip64_extra(extra, usize, csize, offset)
        entries.append(
            ZipEntry(
                name=decode_name(raw_name, flags),
                flags=flags,
                method=method,
                crc=crc,
                compressed_size=csize,
                size=usize,
                header_offset=offset + delta,
                external_attr=external_attr,
                create_system=made_by >> 8,
            )
        )
        pos = body + name_len + extra_len + comment_len
    if len(entries) < count and count not in (0xFFFF,):
        anomalies.append(
            Anomaly(
                AnomalyKind.DAMAGED_CENTRAL_DIRECTORY,
                f"the end record announces {count} members; {len(entries)} could be read",
            )
        )
    return entries, False


def _apply_zip64_extra(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<2H", extra, pos)
        body = extra[pos + 4 : pos + 4 + length]
        if tag == 0x0001:
            values = [int.from_bytes(body[i : i + 8], "little") for i in range(0, len(body) - 7, 8)]
            if usize == 0xFFFFFFFF and values:
                usize = values.pop(0)
            if csize == 0xFFFFFFFF and values:
                csize = values.pop(0)
            if offset == 0xFFFFFFFF and values:
                offset = values.pop(0)
            break
        pos += 4 + length
    return usize, csize, offset


def decode_name(raw: bytes, flags: int) -> str:
    """A member name as a string: UTF-8 when flagged or valid, else code page 437 like zipfile."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8" if flags & FLAG_UTF8 else "cp437", errors="replace")


def _attach_local_header(data: Buffer, entry: ZipEntry, anomalies: list[Anomaly]) -> ZipEntry:
    offset = entry.header_offset
    if offset < 0 or offset + _LOCAL.size > len(data) or bytes(data[offset : offset + 4]) != LOCAL_MAGIC:
        anomalies.append(
            Anomaly(AnomalyKind.MISSING_LOCAL_HEADER, f"no local header at byte {offset}", entry.name)
        )
        return entry
    fields = _LOCAL.unpack_from(data, offset)
    local_flags, name_len, extra_len = fields[2], fields[9], fields[10]
    name_start = offset + _LOCAL.size
    local_name = decode_name(bytes(data[name_start : name_start + name_len]), local_flags)
    if local_name != entry.name:
        anomalies.append(
            Anomaly(
                AnomalyKind.NAME_MISMATCH,
                f"local header names it {local_name!r}, the central directory {entry.name!r}",
                entry.name,
            )
        )
    attached = replace(
        entry, local_name=local_name, local_flags=local_flags, data_offset=name_start + name_len + extra_len
    )
    _note_flags(attached, anomalies)
    return attached


def _note_flags(entry: ZipEntry, anomalies: list[Anomaly]) -> None:
    rejected = entry.all_flags & REJECTED_FLAGS
    if rejected:
        anomalies.append(
            Anomaly(AnomalyKind.FLAG_BITS, f"general-purpose flag bits {rejected:#x}", entry.name)
        )


def _local_entry(data: Buffer, offset: int) -> ZipEntry | None:
    """A member described only by its local header (sizes from a data descriptor when needed)."""
    if offset + _LOCAL.size > len(data):
        return None
    fields = _LOCAL.unpack_from(data, offset)
    flags, method, crc, csize, usize, name_len, extra_len = (
        fields[2], fields[3], fields[6], fields[7], fields[8], fields[9], fields[10],
    )  # fmt: skip
    name_start = offset + _LOCAL.size
    raw_name = bytes(data[name_start : name_start + name_len])
    extra = bytes(data[name_start + name_len : name_start + name_len + extra_len])
    usize, csize, _ = _apply_zip64_extra(extra, usize, csize, 0)
    data_offset = name_start + name_len + extra_len
    if data_offset > len(data):
        return None
    known_crc: int | None = crc
    if flags & FLAG_DESCRIPTOR and csize == 0:
        csize, usize, known_crc = _streamed_size(data, data_offset), 0, None
    return ZipEntry(
        name=decode_name(raw_name, flags),
        flags=flags,
        method=method,
        crc=known_crc,
        compressed_size=csize,
        size=usize,
        header_offset=offset,
        listed=False,
        local_name=decode_name(raw_name, flags),
        local_flags=flags,
        data_offset=data_offset,
    )


def _streamed_size(data: Buffer, start: int) -> int:
    """Compressed size of a member written with a data descriptor: up to the next zip marker.

    Decoders stop at their own end marker, so an overestimate costs nothing.
    """
    ends = [
        found
        for marker in (DESCRIPTOR_MAGIC, LOCAL_MAGIC, CENTRAL_MAGIC)
        if (found := _find(data, marker, start)) >= 0
    ]
    return (min(ends) if ends else len(data)) - start


def _unlisted_members(
    data: Buffer, entries: list[ZipEntry], anomalies: list[Anomaly], budget: int
) -> list[ZipEntry]:
    """Local headers that no directory entry points at: in gaps between listed members."""
    found: list[ZipEntry] = []
    for start, end in _gaps(data, entries):
        pos = _find(data, LOCAL_MAGIC, start, min(end, start + _MAX_GAP_SCAN))
        while 0 <= pos < end and len(found) < budget:
            entry = _local_entry(data, pos)
            if entry is None or entry.data_offset is None:
                break
            found.append(entry)
            _note_flags(entry, anomalies)
            if entries:
                anomalies.append(
                    Anomaly(
                        AnomalyKind.UNLISTED_MEMBER,
                        f"local header at byte {pos} is not in the central directory",
                        entry.name,
                    )
                )
            after = max(entry.data_offset + entry.compressed_size, pos + 4)
            pos = _find(data, LOCAL_MAGIC, after, min(end, after + _MAX_GAP_SCAN))
    return found


def _gaps(data: Buffer, entries: list[ZipEntry]) -> list[tuple[int, int]]:
    """Byte ranges before the central directory that no listed member covers."""
    spans = sorted(
        (e.header_offset, e.data_offset + e.compressed_size) for e in entries if e.data_offset is not None
    )
    limit = _directory_start(data, spans)
    gaps: list[tuple[int, int]] = []
    cursor = 0
    for start, end in spans:
        if start - cursor > _LOCAL.size:
            gaps.append((cursor, start))
        cursor = max(cursor, end)
    if limit - cursor > _LOCAL.size:
        gaps.append((cursor, limit))
    return gaps


def _directory_start(data: Buffer, spans: list[tuple[int, int]]) -> int:
    after = spans[-1][1] if spans else 0
    found = _find(data, CENTRAL_MAGIC, after)
    if found >= 0:
        return found
    eocd = _rfind(data, EOCD_MAGIC, after, len(data))
    return eocd if eocd >= 0 else len(data)


def _note_overlaps(entries: list[ZipEntry], anomalies: list[Anomaly]) -> None:
    spans = sorted(
        (e.data_offset, e.data_offset + e.compressed_size, e.name)
        for e in entries
        if e.data_offset is not None and e.compressed_size > 0
    )
    reach, owner = -1, ""
    for start, end, name in spans:
        if start < reach:
            detail = f"member data overlaps {owner!r} (one compressed block read many times)"
            anomalies.append(Anomaly(AnomalyKind.OVERLAP, detail, name))
        if end > reach:
            reach, owner = end, name
