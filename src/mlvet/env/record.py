"""Installed distributions and their RECORD files (the PyPA "Recording installed projects" spec)."""

from __future__ import annotations

import base64
import csv
import io
import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

RECORD_SIGNATURES = ("RECORD", "RECORD.jws", "RECORD.p7s")
"""dist-info files that RECORD cannot hash (itself and its signatures)."""


@dataclass(frozen=True)
class RecordEntry:
    """One RECORD row: a path relative to the site-packages root, its hash and size when recorded."""

    path: str
    algorithm: str | None
    digest: str | None
    """urlsafe base64 of the raw digest, ``=`` padding removed (as RECORD stores it)."""
    size: int | None

    @property
    def hash_text(self) -> str | None:
        return f"{self.algorithm}={self.digest}" if self.algorithm and self.digest else None


@dataclass(frozen=True)
class Distribution:
    """One ``*.dist-info`` (or ``*.egg-info``) directory found in a site-packages directory."""

    name: str
    version: str
    site_dir: Path
    metadata_dir: Path
    record: tuple[RecordEntry, ...] | None
    """None when the distribution has no RECORD file (PEP 627 allows it)."""
    record_bytes: bytes | None = None
    wheel_tags: tuple[str, ...] = ()
    installer: str | None = None
    direct_url: str | None = None
    """The raw ``direct_url.json`` (PEP 610), present for URL, VCS, directory and editable installs."""
    entry_points: Mapping[str, str] = field(default_factory=dict)
    """``console_scripts`` and ``gui_scripts`` of ``entry_points.txt``: script name -> ``module:attr``."""

    @property
    def key(self) -> str:
        return canonicalize_name(self.name)

    @property
    def console_scripts(self) -> frozenset[str]:
        return frozenset(self.entry_points)

    @property
    def editable(self) -> bool:
        return self.direct_url is not None and '"editable": true' in self.direct_url.replace("'", '"')


def encode_digest(raw: bytes) -> str:
    """The RECORD spelling of a digest: urlsafe base64 without ``=`` padding."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def parse_record(data: bytes) -> tuple[RecordEntry, ...]:
    """The rows of a RECORD file; malformed rows raise ValueError naming the line."""
    text = data.decode("utf-8")
    entries = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not row[0]:
            continue
        if len(row) > 3:
            raise ValueError(f"RECORD line {number} has {len(row)} fields (expected 3)")
        path = row[0].replace("\\", "/")
        hash_field = row[1] if len(row) > 1 else ""
        size_field = row[2] if len(row) > 2 else ""
        algorithm = digest = None
        if hash_field:
            algorithm, sep, digest = hash_field.partition("=")
            if not sep or not digest:
                raise ValueError(f"RECORD line {number}: hash field {hash_field!r} is not ALGO=DIGEST")
        try:
            size = int(size_field) if size_field else None
        except ValueError:
            raise ValueError(f"RECORD line {number}: size {size_field!r} is not a number") from None
        entries.append(RecordEntry(path, algorithm, digest, size))
    return tuple(entries)


def resolve_entry(site_dir: Path | str, entry_path: str) -> str:
    """The absolute, normalised location of a RECORD path (relative paths start at ``site_dir``)."""
    if posixpath.isabs(entry_path):
        return posixpath.normpath(entry_path)
    return os.path.normpath(f"{site_dir}/{entry_path}")


def discover_distributions(site_dir: Path) -> tuple[list[Distribution], list[tuple[Path, str]]]:
    """Every distribution installed in ``site_dir``, and the metadata directories that could not be read."""
    found: list[Distribution] = []
    broken: list[tuple[Path, str]] = []
    try:
        names = sorted(p.name for p in site_dir.iterdir())
    except OSError as exc:
        return found, [(site_dir, f"cannot list: {exc.strerror or exc}")]
    for entry in names:
        if not entry.endswith((".dist-info", ".egg-info")):
            continue
        path = site_dir / entry
        if not path.is_dir():
            continue  # a legacy single-file PKG-INFO .egg-info: no file list at all
        try:
            found.append(_read_distribution(site_dir, path))
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            broken.append((path, str(exc)))
    return found, broken


def _read_distribution(site_dir: Path, metadata_dir: Path) -> Distribution:
    metadata_name = "METADATA" if metadata_dir.name.endswith(".dist-info") else "PKG-INFO"
    name, version = _name_and_version(metadata_dir, metadata_name)
    record_path = metadata_dir / "RECORD"
    record_bytes = record_path.read_bytes() if record_path.is_file() else None
    record = parse_record(record_bytes) if record_bytes is not None else None
    return Distribution(
        name=name,
        version=version,
        site_dir=site_dir,
        metadata_dir=metadata_dir,
        record=record,
        record_bytes=record_bytes,
        wheel_tags=tuple(_header_values(metadata_dir / "WHEEL", "Tag")),
        installer=_first_line(metadata_dir / "INSTALLER"),
        direct_url=_read_text(metadata_dir / "direct_url.json"),
        entry_points=_script_entry_points(metadata_dir / "entry_points.txt"),
    )


def _name_and_version(metadata_dir: Path, metadata_name: str) -> tuple[str, str]:
    headers = dict.fromkeys(("Name", "Version"), "")
    text = _read_text(metadata_dir / metadata_name) or ""
    for line in text.splitlines():
        if not line.strip():
            break  # the body (long description) starts after the first blank line
        key, sep, value = line.partition(":")
        if sep and key in headers and not headers[key]:
            headers[key] = value.strip()
    if not headers["Name"]:
        stem = metadata_dir.name.rsplit(".", 1)[0]
        name, _, version = stem.partition("-")
        headers["Name"], headers["Version"] = name, headers["Version"] or version
    return headers["Name"], headers["Version"]


def _header_values(path: Path, key: str) -> list[str]:
    text = _read_text(path) or ""
    prefix = f"{key}:"
    return [line[len(prefix) :].strip() for line in text.splitlines() if line.startswith(prefix)]


def _script_entry_points(path: Path) -> dict[str, str]:
    scripts: dict[str, str] = {}
    section = ""
    for line in (_read_text(path) or "").splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif section in {"console_scripts", "gui_scripts"} and "=" in line:
            name, _, target = line.partition("=")
            scripts[name.strip()] = target.strip()
    return scripts


def _first_line(path: Path) -> str | None:
    text = _read_text(path)
    return text.strip().splitlines()[0] if text and text.strip() else None


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
