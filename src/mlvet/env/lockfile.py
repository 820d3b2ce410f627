"""Lock files: one model for PEP 751 ``pylock.toml``, ``uv.lock`` and hash-pinned requirements.

mlvet writes ``pylock.toml`` and keeps what the standard has no key for (the sha256 of the RECORD
inside each wheel, the wheel tags of the installed build) in ``[packages.tool.mlvet]``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from mlvet.errors import ConfigError, InputError

LOCK_VERSION = "1.0"
_PYLOCK_NAME = re.compile(r"^pylock\.([^.]+\.)?toml$")


@dataclass(frozen=True)
class LockedFile:
    """One wheel or sdist a lock pins."""

    filename: str | None
    url: str | None = None
    path: str | None = None
    sha256: str | None = None
    size: int | None = None
    upload_time: str | None = None
    record_sha256: str | None = None
    """sha256 (hex) of the ``*.dist-info/RECORD`` inside this wheel; None when the lock has none."""


@dataclass(frozen=True)
class LockedPackage:
    """One package of a lock: a name, a version, and where its files come from."""

    name: str
    version: str | None
    index: str | None = None
    wheels: tuple[LockedFile, ...] = ()
    sdist: LockedFile | None = None
    directory: str | None = None
    editable: bool = False
    installed_tags: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return canonicalize_name(self.name)


@dataclass(frozen=True)
class Lock:
    """A lock file's packages by canonical name (a name may appear once per environment marker)."""

    format: str
    """``pylock.toml``, ``uv.lock`` or ``requirements``."""
    packages: Mapping[str, tuple[LockedPackage, ...]]
    path: Path | None = None
    created_by: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def pins_records(self) -> bool:
        return any(w.record_sha256 for group in self.packages.values() for p in group for w in p.wheels)


def read_lock(path: Path) -> Lock:
    """Read ``pylock*.toml``, ``uv.lock`` or a requirements file, chosen by content and name."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read lock {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if path.name == "uv.lock" or path.suffix == ".toml" or _PYLOCK_NAME.match(path.name):
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(
                f"{path} is not valid TOML: {exc}", hint="pass a pylock.toml or uv.lock"
            ) from None
        if "lock-version" in data:
            return _read_pylock(path, data)
        if isinstance(data.get("package"), list):
            return _read_uv_lock(path, data)
        raise InputError(
            f"{path}: neither a pylock.toml (no lock-version) nor a uv.lock (no [[package]])",
            hint="pass a PEP 751 pylock.toml, a uv.lock or a requirements file with --hash",
        )
    from mlvet.env.requirements import read_requirements_lock

    return read_requirements_lock(path, text)


def _read_pylock(path: Path, data: Mapping[str, Any]) -> Lock:
    version = str(data.get("lock-version"))
    if not version.startswith("1."):
        raise InputError(f"{path}: lock-version {version} is not supported (expected 1.x)")
    packages: dict[str, list[LockedPackage]] = {}
    for number, raw in enumerate(_list(data.get("packages")), start=1):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise InputError(f"{path}: package #{number} has no name")
        tool = raw.get("tool", {}).get("mlvet", {}) if isinstance(raw.get("tool"), dict) else {}
        records = tool.get("record-sha256", {}) if isinstance(tool, dict) else {}
        wheels = tuple(_pylock_file(w, records) for w in _list(raw.get("wheels")))
        sdist = _pylock_file(raw["sdist"], {}) if isinstance(raw.get("sdist"), dict) else None
        directory = raw.get("directory") if isinstance(raw.get("directory"), dict) else None
        package = LockedPackage(
            name=raw["name"],
            version=str(raw["version"]) if raw.get("version") is not None else None,
            index=raw.get("index") if isinstance(raw.get("index"), str) else None,
            wheels=wheels,
            sdist=sdist,
            directory=str(directory.get("path")) if directory else None,
            editable=bool(directory.get("editable")) if directory else False,
            installed_tags=tuple(str(t) for t in _list(tool.get("installed-tags"))),
            notes=tuple(str(n) for n in _list(tool.get("notes"))),
        )
        packages.setdefault(package.key, []).append(package)
    created_by = data.get("created-by")
    return Lock(
        "pylock.toml",
        {k: tuple(v) for k, v in packages.items()},
        path,
        created_by if isinstance(created_by, str) else None,
    )


def _pylock_file(raw: Any, records: Mapping[str, Any]) -> LockedFile:
    if not isinstance(raw, dict):
        raise InputError(f"a wheel or sdist entry is not a table: {raw!r:.80}")
    hashes: dict[str, Any] = raw["hashes"] if isinstance(raw.get("hashes"), dict) else {}
    url = raw.get("url") if isinstance(raw.get("url"), str) else None
    name = raw.get("name") if isinstance(raw.get("name"), str) else None
    filename = name or (url.rsplit("/", 1)[-1].split("#", 1)[0] if url else None)
    record = records.get(filename) if filename else None
    return LockedFile(
        filename=filename,
        url=url,
        path=raw.get("path") if isinstance(raw.get("path"), str) else None,
        sha256=str(hashes["sha256"]).lower() if "sha256" in hashes else None,
        size=raw.get("size") if isinstance(raw.get("size"), int) else None,
        upload_time=str(raw["upload-time"]) if raw.get("upload-time") is not None else None,
        record_sha256=str(record).lower() if isinstance(record, str) else None,
    )


def _read_uv_lock(path: Path, data: Mapping[str, Any]) -> Lock:
    packages: dict[str, list[LockedPackage]] = {}
    for raw in _list(data.get("package")):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            continue
        source: dict[str, Any] = raw["source"] if isinstance(raw.get("source"), dict) else {}
        directory = source.get("editable") or source.get("directory") or source.get("virtual")
        package = LockedPackage(
            name=raw["name"],
            version=str(raw["version"]) if raw.get("version") is not None else None,
            index=source.get("registry") if isinstance(source.get("registry"), str) else None,
            wheels=tuple(_uv_file(w) for w in _list(raw.get("wheels")) if isinstance(w, dict)),
            sdist=_uv_file(raw["sdist"]) if isinstance(raw.get("sdist"), dict) else None,
            directory=str(directory) if directory else None,
            editable="editable" in source,
        )
        packages.setdefault(package.key, []).append(package)
    return Lock(
        "uv.lock",
        {k: tuple(v) for k, v in packages.items()},
        path,
        "uv",
        ("uv.lock pins wheel hashes, not the RECORD inside each wheel",),
    )


def _uv_file(raw: Mapping[str, Any]) -> LockedFile:
    url = raw.get("url") if isinstance(raw.get("url"), str) else None
    hash_text = str(raw["hash"]) if isinstance(raw.get("hash"), str) else ""
    algorithm, _, digest = hash_text.partition(":")
    return LockedFile(
        filename=url.rsplit("/", 1)[-1].split("#", 1)[0] if url else None,
        url=url,
        path=raw.get("path") if isinstance(raw.get("path"), str) else None,
        sha256=digest.lower() if algorithm == "sha256" and digest else None,
        size=raw.get("size") if isinstance(raw.get("size"), int) else None,
        upload_time=str(raw["upload-time"]) if raw.get("upload-time") is not None else None,
    )


def write_pylock(lock: Lock, created_by: str) -> str:
    """The lock as PEP 751 TOML text."""
    try:
        import tomli_w
    except ImportError:
        raise ConfigError(
            "writing pylock.toml needs the tomli-w package", hint="pip install tomli-w (or 'mlvet[all]')"
        ) from None
    document: dict[str, Any] = {"lock-version": LOCK_VERSION, "created-by": created_by, "packages": []}
    for key in sorted(lock.packages):
        for package in lock.packages[key]:
            document["packages"].append(_pylock_package(package))
    return tomli_w.dumps(document)


def _pylock_package(package: LockedPackage) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": package.name}
    if package.version is not None:
        entry["version"] = package.version
    if package.index:
        entry["index"] = package.index
    if package.directory is not None:
        entry["directory"] = {"path": package.directory, "editable": package.editable}
    elif package.wheels:
        entry["wheels"] = [_pylock_wheel(w) for w in package.wheels]
    tool: dict[str, Any] = {}
    records = {w.filename: w.record_sha256 for w in package.wheels if w.filename and w.record_sha256}
    if records:
        tool["record-sha256"] = records
    if package.installed_tags:
        tool["installed-tags"] = list(package.installed_tags)
    if package.notes:
        tool["notes"] = list(package.notes)
    if tool:
        entry["tool"] = {"mlvet": tool}
    return entry


def _pylock_wheel(wheel: LockedFile) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if wheel.filename:
        entry["name"] = wheel.filename
    if wheel.upload_time:
        entry["upload-time"] = _timestamp(wheel.upload_time)
    if wheel.url:
        entry["url"] = wheel.url
    elif wheel.path:
        entry["path"] = wheel.path
    if wheel.size is not None:
        entry["size"] = wheel.size
    entry["hashes"] = {"sha256": wheel.sha256} if wheel.sha256 else {}
    return entry


def _timestamp(text: str) -> datetime | str:
    """PEP 751 wants a TOML datetime; keep the text when it is not ISO 8601."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
