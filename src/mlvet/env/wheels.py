"""Wheels as the vetted reference: file names and tags, the RECORD inside, a store of vetted RECORDs."""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from packaging.tags import parse_tag
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

_RECORD_LIMIT = 64 << 20


@dataclass(frozen=True)
class WheelName:
    """What a wheel's file name says: project, version and the tags it supports."""

    filename: str
    name: str
    version: str
    tags: frozenset[str]


def parse_wheel_name(filename: str) -> WheelName | None:
    """The parts of a wheel file name, or None when it is not one."""
    try:
        name, version, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return None
    return WheelName(filename, canonicalize_name(name), str(version), frozenset(str(t) for t in tags))


def expand_tags(tag_lines: Iterable[str]) -> frozenset[str]:
    """The WHEEL file's ``Tag:`` lines (possibly compressed, ``py2.py3-none-any``) as single tags."""
    expanded: set[str] = set()
    for line in tag_lines:
        try:
            expanded.update(str(t) for t in parse_tag(line))
        except ValueError:
            continue
    return frozenset(expanded)


def matches_installed(wheel: WheelName, name: str, version: str, installed_tags: frozenset[str]) -> bool:
    """Could this wheel be the one installed? Same name and version, and the installed tags among its own."""
    if wheel.name != canonicalize_name(name) or wheel.version != _normal(version):
        return False
    return not installed_tags or bool(wheel.tags & installed_tags)


def _normal(version: str) -> str:
    from packaging.version import InvalidVersion, Version

    try:
        return str(Version(version))
    except InvalidVersion:
        return version


def record_from_wheel(source: str | os.PathLike[str] | IO[bytes], name: str, version: str) -> bytes:
    """The bytes of ``<name>-<version>.dist-info/RECORD`` inside a wheel (ValueError if absent)."""
    with zipfile.ZipFile(source) as archive:
        candidates = [
            info
            for info in archive.infolist()
            if info.filename.count("/") == 1 and info.filename.endswith(".dist-info/RECORD")
        ]
        wanted = canonicalize_name(name)
        chosen = [i for i in candidates if canonicalize_name(i.filename.split("-", 1)[0]) == wanted]
        pool = chosen or candidates
        if len(pool) != 1:
            raise ValueError(f"wheel has {len(pool)} top-level *.dist-info/RECORD files (expected 1)")
        if pool[0].file_size > _RECORD_LIMIT:
            raise ValueError(f"RECORD is {pool[0].file_size} bytes, over the {_RECORD_LIMIT} limit")
        return archive.read(pool[0])


def file_sha256(path: Path) -> tuple[str, int]:
    """Hex sha256 and size of a local file."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def default_store() -> Path:
    """``$XDG_CACHE_HOME/mlvet/records`` (``~/.cache/mlvet/records``)."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "mlvet" / "records"


class RecordStore:
    """Vetted RECORD files kept by their sha256: whoever can write here still cannot forge one."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get(self, sha256: str) -> bytes | None:
        """The RECORD with this hash, or None (also when the stored bytes no longer match it)."""
        path = self.root / f"{sha256.lower()}.RECORD"
        try:
            data = path.read_bytes()
        except OSError:
            return None
        return data if hashlib.sha256(data).hexdigest() == sha256.lower() else None

    def put(self, data: bytes) -> str:
        """Keep ``data``; returns its sha256 (hex)."""
        sha256 = hashlib.sha256(data).hexdigest()
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.root / f"{sha256}.RECORD"
        if not target.exists():
            partial = target.with_suffix(f".{os.getpid()}.part")
            partial.write_bytes(data)
            partial.replace(target)
        return sha256
