"""PyTorch zip archives: ``torch.save`` (since 1.6), ``torch.jit.save`` and ``torch.export.save``.

Every member that holds a pickle is scanned, whatever its name; tensor storages are only sniffed
(a few KiB), so the cost grows with the size of the pickles, not of the weights. TorchScript
source under ``code/`` goes to ``torchscript``.
"""

from __future__ import annotations

import io
import pickletools
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlvet._internal.streams import Codec, decode
from mlvet._internal.zipreader import LOCAL_MAGIC, ZipArchive, ZipEntry
from mlvet.artifacts import Format, sniff
from mlvet.findings import Location, Rule, Severity
from mlvet.graph.torchscript_import import class_library
from mlvet.scan.archives.members import MemberWalk, read_zip_member
from mlvet.scan.pytorch.torchscript import MAX_CODE_BYTES, scan_torchscript_code

PICKLE_UNDER_ODD_NAME = Rule(
    "MLV202",
    "Pickle stored under a non-standard member name",
    Severity.MEDIUM,
    "A member of a PyTorch archive holds a pickle although its name is not one PyTorch gives "
    "pickles (data.pkl, constants.pkl, *.debug_pkl). Scanners that only read data.pkl or files "
    "with pickle extensions miss such members (CVE-2025-1889). mlvet scanned the pickle; its "
    "own findings say whether it is dangerous.",
    ("CVE-2025-1889",),
)
RULES: tuple[Rule, ...] = (PICKLE_UNDER_ODD_NAME,)

SNIFF_BYTES = 4096
"""How much of a tensor storage member is read to see whether it is really a pickle."""

_TOP_LEVEL_PICKLE = re.compile(r"^(?:[^/]+/)?(?:data|constants)\.pkl$")
_CODE_DIR = re.compile(r"^(?:[^/]+/)?code/")
_VERSION = re.compile(r"^(?:[^/]+/)?(?:\.data/)?version$")
_STRONG_MAGIC = frozenset({Format.NUMPY, Format.GGUF, Format.HDF5, Format.SEVENZIP, Format.XZ, Format.ZSTD})
"""Formats whose magic numbers are long enough that tensor bytes do not imitate them by chance."""
_TEXT_FORMATS = frozenset({Format.JSON, Format.PYTHON, Format.PICKLE})
"""Text formats (a protocol 0 pickle included) accepted in a data folder only as valid UTF-8."""
_STREAMS = {
    Format.GZIP: Codec.GZIP,
    Format.BZIP2: Codec.BZIP2,
    Format.ZLIB: Codec.ZLIB,
    Format.LZMA: Codec.LZMA_ALONE,
}
"""Streams with short magics: accepted in a data folder only when their first bytes decode."""
MAX_LIBRARY_BYTES = 64 << 20
"""The most TorchScript code read to resolve classes across an archive's code files."""
_TORCH_SIBLINGS = ("byteorder", ".format_version", ".storage_alignment", ".data/serialization_id")


@dataclass(frozen=True)
class TorchLayout:
    """Where a torch archive keeps its parts: a common prefix (``archive/``) and its kind."""

    prefix: str
    torchscript: bool
    _library: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """The archive's TorchScript classes by qualified name, read once (see ``code_library``)."""

    @classmethod
    def detect(cls, entries: list[ZipEntry]) -> TorchLayout | None:
        """The layout when the names look like a torch or TorchScript archive, else None.

        A pickle named data.pkl or constants.pkl, or a code/ folder, is enough; without them (a
        renamed data.pkl), a version record next to the files only torch writes (byteorder...).
        """
        names = [entry.name for entry in entries]
        present = set(names)
        prefix = next((n[: n.rfind("/") + 1] for n in names if _TOP_LEVEL_PICKLE.match(n)), None)
        if prefix is None:
            versions = (_version_prefix(n) for n in names if _VERSION.match(n))
            prefix = next((p for p in versions if any(p + s in present for s in _TORCH_SIBLINGS)), None)
        if prefix is None:
            prefix = next((_code_prefix(n) for n in names if _CODE_DIR.match(n)), None)
        if prefix is None:
            return None
        scripted = any(n.startswith(prefix + "code/") or n == prefix + "constants.pkl" for n in names)
        return cls(prefix, scripted)

    def relative(self, name: str) -> str | None:
        return name[len(self.prefix) :] if name.startswith(self.prefix) else None

    def is_standard_pickle(self, name: str) -> bool:
        rel = self.relative(name)
        return rel is not None and (
            rel in ("data.pkl", "constants.pkl") or (rel.startswith("code/") and rel.endswith(".debug_pkl"))
        )

    def is_data(self, name: str) -> bool:
        """Members of the tensor folders (storages, export weights, TorchScript constants)."""
        rel = self.relative(name)
        return rel is not None and rel.startswith(("data/", "constants/"))

    def is_code(self, name: str) -> bool:
        rel = self.relative(name)
        return self.torchscript and rel is not None and rel.startswith("code/") and rel.endswith(".py")

    def code_library(self, archive: ZipArchive) -> Mapping[str, Any]:
        """Every class of the archive's code files, so a submodule defined in another file is followed.

        Read once per archive, each file up to ``MAX_CODE_BYTES`` and all of them up to
        ``MAX_LIBRARY_BYTES``; the files are scanned in their own turn as usual.
        """
        if not self._library and self.torchscript:
            sources: dict[str, str] = {}
            budget = MAX_LIBRARY_BYTES
            for entry in archive.entries:
                rel = self.relative(entry.name)
                if rel is None or not self.is_code(entry.name) or entry.is_dir or budget <= 0:
                    continue
                member = archive.read(entry, MAX_CODE_BYTES)
                if member.complete and member.error is None:
                    sources[rel.removeprefix("code/")] = bytes(member.data).decode("utf-8", "replace")
                    budget -= len(member.data)
            self._library.update(class_library(sources))
        return self._library


def _version_prefix(name: str) -> str:
    folder = name[: -len("version")]
    return folder.removesuffix(".data/")


def _code_prefix(name: str) -> str:
    return "" if name.startswith("code/") else name[: name.find("/") + 1]


def scan_torch_member(archive: ZipArchive, entry: ZipEntry, layout: TorchLayout, walk: MemberWalk) -> None:
    """Scan one member of a torch archive according to its role in the layout.

    Members of the tensor folders are sniffed (``SNIFF_BYTES``) and read in full only when they
    hold something other than tensor bytes: a pickle, or a format that random weights cannot imitate.
    """
    if layout.is_data(entry.name):
        head = archive.read_head(entry, SNIFF_BYTES)
        if looks_like_pickle(head):
            _scan_odd_pickle(archive, entry, walk)
        elif embeds_content(head):
            data = read_zip_member(archive, entry, walk)
            if data is not None:
                walk.scan(data, entry.name)
        return
    data = read_zip_member(archive, entry, walk)
    if data is None:
        return
    if layout.is_standard_pickle(entry.name) or layout.is_standard_pickle(entry.local_name or ""):
        walk.scan(data, entry.name, expect=Format.PICKLE)
        return
    fmt = sniff(data)
    if layout.is_code(entry.name) and fmt in (Format.PYTHON, Format.TEXT, Format.EMPTY, Format.JSON):
        scan_torchscript_code(bytes(data), entry.name, walk, layout.code_library(archive))
        return
    if fmt is Format.PICKLE:
        _report_odd_pickle(entry.name, walk)
    walk.scan(data, entry.name)


def embeds_content(head: bytes) -> bool:
    """Whether the first bytes of a tensor-folder member are a format rather than tensor bytes."""
    fmt = sniff(head)
    if fmt is Format.ZIP:
        return head.startswith(LOCAL_MAGIC)
    if fmt in _STRONG_MAGIC:
        return True
    if fmt in _TEXT_FORMATS:
        return _is_utf8_prefix(head)
    codec = _STREAMS.get(fmt)
    if codec is not None:
        trial = decode(codec, head, 64)
        return bool(trial.data) and (trial.error is None or "end marker" in trial.error)
    return False


def _is_utf8_prefix(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def _scan_odd_pickle(archive: ZipArchive, entry: ZipEntry, walk: MemberWalk) -> None:
    data = read_zip_member(archive, entry, walk)
    if data is not None:
        _report_odd_pickle(entry.name, walk)
        walk.scan(data, entry.name, expect=Format.PICKLE)


def _report_odd_pickle(name: str, walk: MemberWalk) -> None:
    walk.ctx.report(
        PICKLE_UNDER_ODD_NAME,
        f"member {name!r} holds a pickle under a name PyTorch does not use for pickles",
        location=Location(member=name),
        evidence={"member": name},
    )


def looks_like_pickle(head: bytes) -> bool:
    """Strict test for tensor bytes: a protocol 2+ header, then opcodes that parse and fit the stack.

    Random weights start with ``\\x80\\x02`` once in ~10^4 storages; requiring the next opcodes to
    disassemble, to find their operands on the stack and their memo entries stored keeps such
    storages from passing as pickles.
    """
    if len(head) < 4 or head[0] != 0x80 or not 2 <= head[1] <= 5:
        return False
    stack: list[bool] = []  # True marks a MARK
    memo: set[object] = set()
    steps = 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # genops warns about odd escapes in STRING arguments
            for opcode, argument, _ in pickletools.genops(io.BytesIO(head)):
                if not _fits_stack(opcode, argument, stack, memo):
                    return False
                steps += opcode.name not in ("PROTO", "FRAME")
                if steps >= 4:
                    return True
    except Exception:  # genops raises ValueError and others on garbage: not a pickle
        return False
    return steps >= 2


def _fits_stack(
    opcode: pickletools.OpcodeInfo, argument: object, stack: list[bool], memo: set[object]
) -> bool:
    """Apply ``opcode`` to a stack of marks and items; False when its operands are not there."""
    before = opcode.stack_before
    if opcode.name == "POP":
        if not stack:
            return False
        stack.pop()
    elif pickletools.markobject in before:
        if True not in stack:
            return False
        below = before.index(pickletools.markobject)
        del stack[len(stack) - 1 - stack[::-1].index(True) :]
        if len(stack) < below or True in stack[len(stack) - below :]:
            return False
        del stack[len(stack) - below :]
    else:
        if len(stack) < len(before) or True in stack[len(stack) - len(before) :]:
            return False
        del stack[len(stack) - len(before) :]
    if opcode.name in ("GET", "BINGET", "LONG_BINGET") and argument not in memo:
        return False
    if opcode.name in ("PUT", "BINPUT", "LONG_BINPUT"):
        memo.add(argument)
    elif opcode.name == "MEMOIZE":
        memo.add(len(memo))
    stack.extend(item is pickletools.markobject for item in opcode.stack_after)
    return True
