"""Compare an installed RECORD with the RECORD inside the vetted wheel.

An installer rewrites RECORD: it adds the bytecode it compiled, ``INSTALLER``/``REQUESTED``/
``direct_url.json``, the console scripts it generated from ``entry_points.txt``, and moves
``<name>.data/`` members to their final places. Everything else must match the wheel row for row.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass

from mlvet.env.record import RECORD_SIGNATURES, RecordEntry

_INSTALLER_METADATA = frozenset({"INSTALLER", "REQUESTED", "direct_url.json", *RECORD_SIGNATURES})
_SCRIPT_SUFFIXES = (".exe", "-script.py", "-script.pyw")
_VERSIONED = re.compile(r"-?\d+(\.\d+)*$")


@dataclass(frozen=True)
class RecordDifference:
    """One row where the installed RECORD and the vetted one disagree."""

    path: str
    problem: str
    """``hash differs``, ``not in the vetted wheel`` or ``missing from the installed RECORD``."""
    installed: str | None
    vetted: str | None


@dataclass(frozen=True)
class RecordComparison:
    differences: tuple[RecordDifference, ...]
    compared: int
    relocated: int
    """``.data/scripts`` etc. that the installer rewrote or moved: present, but not comparable by hash."""


def compare_records(
    installed: Sequence[RecordEntry], vetted: Sequence[RecordEntry], console_scripts: frozenset[str]
) -> RecordComparison:
    """Every disagreement between the two RECORDs that an installer does not explain."""
    expected: dict[str, str | None] = {}
    relocated_hashes: set[str] = set()
    relocated_names: set[str] = set()
    for entry in vetted:
        head, _, rest = entry.path.partition("/")
        if _is_record_file(entry.path):
            continue
        if head.endswith(".data") and rest:
            scheme, _, inner = rest.partition("/")
            if scheme in {"purelib", "platlib"} and inner:
                expected[inner] = entry.hash_text
                continue
            if entry.hash_text:
                relocated_hashes.add(entry.hash_text)
            relocated_names.add(posixpath.basename(inner or rest))
            continue
        expected[entry.path] = entry.hash_text
    found = {entry.path: entry.hash_text for entry in installed}
    differences: list[RecordDifference] = []
    compared = 0
    for path, vetted_hash in expected.items():
        if path not in found:
            differences.append(RecordDifference(path, "missing from the installed RECORD", None, vetted_hash))
        elif vetted_hash is not None:
            compared += 1
            if found[path] != vetted_hash:
                differences.append(RecordDifference(path, "hash differs", found[path], vetted_hash))
    relocated = 0
    for path, installed_hash in found.items():
        if path in expected or _added_by_installer(path):
            continue
        name = posixpath.basename(path)
        if path.startswith("..") or posixpath.isabs(path):
            if _generated_script(name, console_scripts) or installed_hash in relocated_hashes:
                continue
            if name in relocated_names:
                relocated += 1
                continue
        differences.append(RecordDifference(path, "not in the vetted wheel", installed_hash, None))
    return RecordComparison(tuple(differences), compared, relocated)


def _is_record_file(path: str) -> bool:
    head, _, name = path.partition("/")
    return head.endswith(".dist-info") and name in RECORD_SIGNATURES


def _added_by_installer(path: str) -> bool:
    head, _, name = path.partition("/")
    if head.endswith(".dist-info") and name in _INSTALLER_METADATA:
        return True
    return "/__pycache__/" in f"/{path}" and path.endswith(".pyc")


def _generated_script(name: str, console_scripts: frozenset[str]) -> bool:
    """A script the installer wrote for an entry point, or its versioned twin (pip3.11, easy_install-3.11)."""
    for suffix in _SCRIPT_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name in console_scripts or _VERSIONED.sub("", name) in console_scripts
