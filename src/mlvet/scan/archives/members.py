"""Archives: walk every member with limits, check names and links, scan content; tar lives here.

Members are never extracted to disk: each is read into memory (bounded by the limits in
``Settings.limits``) and handed back to the dispatcher, so a ``model.bin`` inside a 7z is scanned
exactly like a file on disk. Zip archives start in ``zip_archive`` and 7z in ``sevenzip``; this
module holds what every archive walk shares, and the tar walk.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
import tarfile
from typing import Any, cast

from mlvet._internal.streams import BufferFile
from mlvet._internal.zipreader import (
    FLAG_ENCRYPTED,
    FLAG_STRONG_ENCRYPTION,
    STORED,
    AnomalyKind,
    ZipArchive,
    ZipEntry,
)
from mlvet.artifacts import Buffer, Format, sniff
from mlvet.findings import Location, ProblemKind, Rule, Severity
from mlvet.scan.base import ScanContext

ZIP_STRUCTURE = Rule(
    "MLV201",
    "Zip structure that strict readers reject",
    Severity.MEDIUM,
    "The archive has a quirk that Python's zipfile refuses but PyTorch's lenient reader accepts: "
    "unusual flag bits, a CRC mismatch, a local file name that differs from the directory, bytes "
    "before the archive, or members missing from the directory. Scanner-evasion samples are built "
    "this way so that a strict scanner gives up while torch.load still runs the payload. mlvet read "
    "the members anyway; re-save the model with the original library if the file is yours.",
    ("CVE-2025-1944", "CVE-2025-1945", "CVE-2025-10156"),
)
PATH_TRAVERSAL = Rule(
    "MLV701",
    "Archive member path escapes the extraction folder",
    Severity.HIGH,
    "A member name is absolute, names a drive, or climbs out with '..' components. Extracting the "
    "archive with a naive tool writes outside the target folder (zip-slip), which can overwrite "
    "code or configuration. Do not extract this archive; rebuild it from trusted sources.",
    ("https://security.snyk.io/research/zip-slip-vulnerability",),
)
LINK_MEMBER = Rule(
    "MLV702",
    "Archive member is a symbolic or hard link",
    Severity.HIGH,
    "Model archives hold regular files. A link member makes an extractor create a link that later "
    "writes or reads land on, possibly outside the extraction folder (for example a link to "
    "~/.ssh or to a Python file that is imported later). Do not extract this archive.",
    ("CVE-2007-4559",),
)
DECOMPRESSION_BOMB = Rule(
    "MLV703",
    "Decompression bomb",
    Severity.HIGH,
    "Content expands far beyond its compressed size (or several members share one compressed "
    "block), a classic way to exhaust memory or disk in whatever loads or extracts it. mlvet "
    "stopped decoding at its limit. Treat the file as hostile unless its origin explains it.",
    ("https://www.bamsoftware.com/hacks/zipbomb/",),
)
ARCHIVE_LIMIT = Rule(
    "MLV704",
    "Archive has too many members or nests too deeply",
    Severity.MEDIUM,
    "The archive holds more members than the configured limit, or archives are nested deeper than "
    "the configured depth. Such shapes are used to exhaust scanners so that a payload is never "
    "reached; the members beyond the limit were not examined.",
)
DUPLICATE_MEMBER = Rule(
    "MLV705",
    "Archive holds several members with the same name",
    Severity.MEDIUM,
    "Readers disagree on which copy of a duplicated name wins (the first or the last), so a "
    "scanner and a loader can see different files. mlvet scanned every copy; check which one your "
    "loader uses.",
)
ENCRYPTED_MEMBER = Rule(
    "MLV706",
    "Encrypted archive member cannot be scanned",
    Severity.MEDIUM,
    "The member is encrypted, so its content could not be examined. Model files do not need "
    "encryption inside an archive; encrypting a member hides it from scanners. Obtain the "
    "unencrypted file and scan it.",
)

RULES: tuple[Rule, ...] = (
    ZIP_STRUCTURE,
    PATH_TRAVERSAL,
    LINK_MEMBER,
    DECOMPRESSION_BOMB,
    ARCHIVE_LIMIT,
    DUPLICATE_MEMBER,
    ENCRYPTED_MEMBER,
)

MIN_BOMB_BYTES = 1 << 20
"""Output below this size is never called a bomb, whatever the ratio."""

_DRIVE = re.compile(r"^[A-Za-z]:")


def unsafe_path_reason(name: str) -> str | None:
    """Why extracting a member called ``name`` could write outside the target folder, if it could."""
    normalized = name.replace("\\", "/")
    if "\x00" in name:
        return "contains a NUL byte"
    if normalized.startswith("/"):
        return "absolute path"
    if _DRIVE.match(normalized):
        return "Windows drive path"
    if ".." in normalized.split("/"):
        return "'..' component"
    return None


def report_bomb(ctx: ScanContext, member: str | None, produced: int, compressed: int) -> None:
    """MLV703 for content that expands past ``max_ratio`` times its compressed size."""
    ratio = ctx.settings.limits.max_ratio
    ctx.report(
        DECOMPRESSION_BOMB,
        f"{member or 'stream'}: {compressed} compressed bytes expand past {produced} bytes "
        f"(more than {ratio}x)",
        location=Location(member=member),
        evidence={"compressed_bytes": compressed, "decoded_at_least": produced, "max_ratio": ratio},
    )


class MemberWalk:
    """What every archive walk shares: member count, names, links, decoding limits, scanning."""

    def __init__(self, ctx: ScanContext) -> None:
        self.ctx = ctx
        self.limits = ctx.settings.limits
        self.count = 0
        self.stopped = False
        """The decompression budget is spent: the walk must end."""
        self._names: set[str] = set()
        self._duplicates: set[str] = set()
        self._depth_reported = False
        self._too_many_reported = False

    def admit(self, name: str) -> bool:
        """Count a member and check its name; False once the entry limit is passed."""
        self.count += 1
        if self.count > self.limits.max_entries:
            if self.count == self.limits.max_entries + 1:
                self.too_many()
            return False
        reason = unsafe_path_reason(name)
        if reason is not None:
            self.ctx.report(
                PATH_TRAVERSAL,
                f"member {name!r}: {reason}",
                location=Location(member=name),
                evidence={"name": name, "reason": reason},
            )
        if name in self._names and name not in self._duplicates:
            self._duplicates.add(name)
            self.ctx.report(
                DUPLICATE_MEMBER,
                f"member name {name!r} appears more than once",
                location=Location(member=name),
            )
        self._names.add(name)
        return True

    def too_many(self) -> None:
        if self._too_many_reported:
            return
        self._too_many_reported = True
        limit = self.limits.max_entries
        self.ctx.report(ARCHIVE_LIMIT, f"more than {limit} members", evidence={"max_entries": limit})
        self.ctx.problem(ProblemKind.LIMIT, f"members beyond the first {limit} were not examined")

    def link(self, name: str, target: str, *, hard: bool) -> None:
        kind = "hard link" if hard else "symbolic link"
        inside = _stays_inside(name, target, hard=hard)
        self.ctx.report(
            LINK_MEMBER,
            f"member {name!r} is a {kind} to {target!r}"
            + (", which stays inside the archive" if inside else ""),
            location=Location(member=name),
            evidence={"name": name, "target": target, "kind": kind, "inside_archive": inside},
            severity=Severity.LOW if inside else None,
        )

    def cap(self, compressed: int) -> tuple[int, bool]:
        """The most bytes to decode from ``compressed`` input, and whether that cap is the ratio bound."""
        ratio_cap = max(MIN_BOMB_BYTES, compressed * self.limits.max_ratio)
        return min(self.limits.max_member_bytes, ratio_cap), ratio_cap < self.limits.max_member_bytes

    def account(
        self, name: str, produced: int, compressed: int, *, over_limit: bool, ratio_bound: bool
    ) -> None:
        """After decoding a member: report a bomb or a size limit, and charge the total budget."""
        if over_limit:
            if ratio_bound:
                report_bomb(self.ctx, name, produced, compressed)
            self.ctx.problem(
                ProblemKind.LIMIT,
                f"{name}: decoding stopped after {produced} bytes; the rest was not examined",
            )
        if produced and not self.ctx.charge_decompressed(produced):
            self.stopped = True

    def scan(self, data: Buffer, name: str, expect: Format | None = None) -> None:
        """Hand a member's bytes to the dispatcher (zero-copy views are released afterwards)."""
        if self.ctx.depth + 1 > self.limits.max_depth and not self._depth_reported:
            self._depth_reported = True
            self.ctx.report(
                ARCHIVE_LIMIT,
                f"containers nested deeper than {self.limits.max_depth} levels",
                location=Location(member=name),
                evidence={"max_depth": self.limits.max_depth},
            )
        try:
            self.ctx.scan_member(data, name, expect=expect)
        finally:
            if isinstance(data, memoryview):
                with contextlib.suppress(BufferError):
                    data.release()


def read_zip_member(archive: ZipArchive, entry: ZipEntry, walk: MemberWalk) -> Buffer | None:
    """A zip member's bytes within the limits, or None (with a problem or finding saying why)."""
    ctx = walk.ctx
    if entry.method == STORED:
        cap, ratio_bound = walk.limits.max_member_bytes, False
    else:
        cap, ratio_bound = walk.cap(entry.compressed_size)
    result = archive.read(entry, cap)
    if entry.all_flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION) and not _readable_plaintext(result.data):
        ctx.report(
            ENCRYPTED_MEMBER, f"member {entry.name!r} is encrypted", location=Location(member=entry.name)
        )
        ctx.problem(ProblemKind.UNSUPPORTED, f"{entry.name}: encrypted member not scanned")
        return None
    if result.error is not None:
        where = f"after {len(result.data)} bytes" if len(result.data) else "at its start"
        ctx.problem(ProblemKind.CORRUPT, f"{entry.name}: cannot read the member {where}: {result.error}")
        if not len(result.data):
            return None
    if result.crc_ok is False:
        ctx.report(
            ZIP_STRUCTURE,
            f"member {entry.name!r}: CRC-32 does not match the directory (a strict reader refuses it)",
            location=Location(member=entry.name),
            evidence={"quirk": AnomalyKind.CRC_MISMATCH.value, "declared_crc": f"{entry.crc:#010x}"},
        )
    if entry.method == STORED:
        if result.over_limit:
            ctx.problem(ProblemKind.LIMIT, f"{entry.name}: member larger than {cap} bytes was not examined")
            return None
    else:
        walk.account(
            entry.name,
            len(result.data),
            entry.compressed_size,
            over_limit=result.over_limit,
            ratio_bound=ratio_bound,
        )
    return result.data


def _readable_plaintext(data: Buffer) -> bool:
    """An 'encrypted' member whose bytes are a recognisable format was never really encrypted.

    Plain text does not count: ciphertext often has no NUL in its first bytes and sniffs as text.
    """
    return bool(len(data)) and sniff(data) not in (Format.UNKNOWN, Format.EMPTY, Format.TEXT, Format.MEDIA)


def scan_tar(data: Buffer, ctx: ScanContext) -> None:
    """Scan every regular member of a (plain) tar archive; links and unsafe names are findings."""
    walk = MemberWalk(ctx)
    try:
        with tarfile.open(fileobj=BufferFile(data), mode="r:") as archive:
            _walk_tar(archive, data, walk)
    except (tarfile.TarError, OSError, ValueError, EOFError, UnicodeError) as exc:
        if walk.count:
            ctx.problem(ProblemKind.CORRUPT, f"tar archive damaged after {walk.count} members: {exc}")
        else:
            ctx.problem(ProblemKind.CORRUPT, f"not a readable tar archive: {exc}")


def _walk_tar(archive: tarfile.TarFile, data: Buffer, walk: MemberWalk) -> None:
    while not walk.stopped:
        info = archive.next()
        if info is None or not walk.admit(info.name):
            return
        cast(Any, archive).members.clear()  # tarfile keeps every header otherwise; the walk needs none
        _scan_tar_member(data, info, walk)


def _scan_tar_member(data: Buffer, info: tarfile.TarInfo, walk: MemberWalk) -> None:
    if info.issym() or info.islnk():
        walk.link(info.name, info.linkname, hard=info.islnk())
        return
    if not info.isreg():
        return
    if info.sparse is not None:
        walk.ctx.problem(ProblemKind.UNSUPPORTED, f"{info.name}: sparse tar member not scanned")
        return
    start, size = info.offset_data, info.size
    if size > walk.limits.max_member_bytes:
        walk.ctx.problem(ProblemKind.LIMIT, f"{info.name}: member of {size} bytes not examined")
        return
    available = max(0, min(size, len(data) - start))
    if available < size:
        walk.ctx.problem(ProblemKind.CORRUPT, f"{info.name}: member truncated ({available} of {size} bytes)")
    member: Buffer = (
        data[start : start + available]
        if available < 16 << 20
        else memoryview(data)[start : start + available]
    )
    walk.scan(member, info.name)


def _stays_inside(name: str, target: str, *, hard: bool) -> bool:
    """Whether a link's target resolves to a path inside the archive (a hard link names a member)."""
    if not target or target.startswith(("/", "\\")) or "\\" in target or ":" in target:
        return False
    resolved = posixpath.normpath(target if hard else posixpath.join(posixpath.dirname(name), target))
    return resolved != ".." and not resolved.startswith("../") and not resolved.startswith("/")
