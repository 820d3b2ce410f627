"""Files of a package that are not Python source: native code, bytecode, test data, text that looks like JSON.

A model repository has no business shipping native libraries or unrecognised blobs, so there they stay
problems (exit 2: not examined). A package is different: a binary wheel *is* native extension modules,
and test suites carry arbitrary data. mlvet does not disassemble machine code or unmarshal bytecode, so
such files are reported explicitly as findings that say they were not analysed (native code at info in a
built package, medium in a source package where it should not be; bytecode at medium), and unrecognised
data at info: it cannot run by itself, and the code that would read it is analysed. Files that only
look like JSON or safetensors (a Python dict literal in a test fixture, a line of text whose first eight
bytes read as a length) are text in a package, not corrupt model files.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from mlvet.artifacts import Buffer, Format
from mlvet.findings import Rule, Severity
from mlvet.scan import json_config, safetensors_format
from mlvet.scan.base import CodeOrigin, ScanContext, Scanner

NATIVE_CODE = Rule(
    "MLV852",
    "Native code in a package (not analysed)",
    Severity.INFO,
    "The package ships machine code (an ELF, PE or Mach-O binary, or a static library). mlvet does not "
    "disassemble native code, so this file was not analysed. It is expected in a binary wheel (extension "
    "modules) and reported at info there; in a source distribution, which should carry only sources, it is "
    "medium. Verify native files by their RECORD hashes (mlvet env verify) and the wheel's provenance.",
    ("https://github.com/DataDog/guarddog",),
)
BYTECODE = Rule(
    "MLV853",
    "Compiled Python bytecode in a package (not analysed)",
    Severity.MEDIUM,
    "The package ships a .pyc file. mlvet does not unmarshal bytecode (unmarshalling hostile data is "
    "unsafe), so the code it holds was not analysed, and Python can run a cached .pyc in place of the "
    "source beside it. Packages rarely need to ship bytecode; rebuild it from the source. In an installed "
    "environment's __pycache__ folders it is info (the interpreter writes them): check them with mlvet "
    "env verify.",
)
UNRECOGNISED_DATA = Rule(
    "MLV854",
    "Unrecognised data file in a package",
    Severity.INFO,
    "A file of the package is in no format mlvet recognises (an icon, a sound, test data). It cannot run "
    "by itself, and the package code that would read it was analysed, so it is reported at info rather "
    "than as unexamined content. In a model repository the same file is a problem (exit 2).",
)

RULES: tuple[Rule, ...] = (NATIVE_CODE, BYTECODE, UNRECOGNISED_DATA)

_ROUTED = frozenset({Format.JSON, Format.SAFETENSORS, Format.UNKNOWN})
_TEXT_BYTES = bytes(range(0x20, 0x7F)) + b"\t\n\r\f"
_MACH_O = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")
_MAX_FAT_ARCHITECTURES = 32
"""A fat Mach-O header counts its architectures where a Java class file has its version (45 and up)."""
_CODE_OBJECT = (0x63, 0xE3)
"""marshal's type byte for a code object (plain and with the reference flag)."""


def package_scanner_for(ctx: ScanContext, fmt: Format) -> Scanner | None:
    """The package-aware scanner for JSON-, safetensors- or unrecognised content in library code."""
    if fmt not in _ROUTED or not ctx.code_origin.is_library:
        return None
    if fmt is Format.JSON:
        return scan_package_json
    if fmt is Format.SAFETENSORS:
        return scan_package_safetensors
    return scan_package_file


def scan_package_json(data: Buffer, ctx: ScanContext) -> None:
    """JSON is analysed as JSON; text that only opens like JSON (a dict literal, ``[tool]``) is text."""
    if len(data) <= json_config.MAX_JSON_BYTES:
        try:
            json.loads(bytes(data))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return
    json_config.scan_json(data, ctx)


def scan_package_safetensors(data: Buffer, ctx: ScanContext) -> None:
    """A length field made of printable text is a text file (``value = {}``), not a safetensors header."""
    if not bytes(data[:8]).translate(None, _TEXT_BYTES):
        return
    safetensors_format.scan_safetensors(data, ctx)


def scan_package_file(data: Buffer, ctx: ScanContext) -> None:
    """Native code and bytecode are named as not analysed; other unrecognised content is data."""
    head = bytes(data[:64])
    native = native_kind(data)
    if native is not None:
        source = ctx.code_origin is CodeOrigin.LIBRARY_SOURCE
        where = "a source package, which should carry sources" if source else "a built package"
        ctx.report(
            NATIVE_CODE,
            f"{native} in {where}; machine code is not analysed",
            evidence={"kind": native, "graded_as": ctx.code_origin.value},
            severity=Severity.MEDIUM if source else Severity.INFO,
        )
    elif len(head) > 16 and head[2:4] == b"\r\n" and (head[16] in _CODE_OBJECT or head[12] in _CODE_OBJECT):
        magic = int.from_bytes(head[:2], "little")
        cache = ctx.subject.member is None and Path(ctx.subject.path).parent.name == "__pycache__"
        ctx.report(
            BYTECODE,
            f"compiled Python bytecode (magic {magic}"
            + ("; an installed environment's bytecode cache" if cache else "")
            + "); the code it holds is not analysed",
            evidence={"magic": magic},
            severity=Severity.INFO if cache else None,
        )
    else:
        ctx.report(
            UNRECOGNISED_DATA,
            f"{len(data)} bytes in no format mlvet recognises (data, not analysed)",
            evidence={"head": head[:16].hex()},
        )


def native_kind(data: Buffer) -> str | None:
    """``ELF binary``, ``PE binary``, ``Mach-O binary``... by magic number; ``None`` for anything else."""
    head = bytes(data[:64])
    if head.startswith(b"\x7fELF"):
        return "ELF binary"
    if head.startswith(b"!<arch>\n"):
        return "static library"
    if head.startswith(_MACH_O):
        return "Mach-O binary"
    if head.startswith(b"\xca\xfe\xba\xbe") and len(head) >= 8:
        (count,) = struct.unpack_from(">I", head, 4)
        return "Mach-O universal binary" if 0 < count <= _MAX_FAT_ARCHITECTURES else None
    if head.startswith(b"MZ") and len(head) >= 64:
        (offset,) = struct.unpack_from("<I", head, 0x3C)
        if bytes(data[offset : offset + 4]) == b"PE\x00\x00":
            return "PE binary"
    return None
