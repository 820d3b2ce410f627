"""``mlvet env lock``: a PEP 751 lock of an environment or a requirements set, RECORD hashes included.

Wheel hashes come from local wheels (``--wheels DIR``) or the index's simple API; the RECORD inside
each wheel is read from the local wheel, or from the index by HTTP range requests (``range``), or
from a full download checked against the index's sha256 (``download``).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import unquote, urlsplit

from mlvet.env.index import PYPI_SIMPLE, Index, IndexFile, IndexUnavailable, RemoteFile, download, remote_size
from mlvet.env.lockfile import Lock, LockedFile, LockedPackage
from mlvet.env.record import Distribution, discover_distributions
from mlvet.env.requirements import read_requirements_lock
from mlvet.env.target import Environment
from mlvet.env.wheels import (
    RecordStore,
    WheelName,
    default_store,
    expand_tags,
    file_sha256,
    matches_installed,
    parse_wheel_name,
    record_from_wheel,
)
from mlvet.errors import InputError
from mlvet.findings import Problem, ProblemKind, Report, Subject

PackageProgress = Callable[[str], None]
"""Called with a package name as each package is done."""


class RecordFetch(enum.Enum):
    """How to get the RECORD inside a wheel that is not on disk."""

    RANGE = "range"
    """Read only the zip directory and RECORD member from the index (a few HTTP range requests)."""
    DOWNLOAD = "download"
    """Download the whole wheel into the cache and check it against the index's sha256 first."""
    NONE = "none"
    """Do not fetch: the RECORD hash stays unknown (noted in the lock)."""


@dataclass(frozen=True)
class LockSources:
    """Where wheel hashes and RECORDs come from."""

    wheels_dir: Path | None = None
    index_urls: tuple[str, ...] = (PYPI_SIMPLE,)
    offline: bool = False
    fetch: RecordFetch = RecordFetch.RANGE
    records_dir: Path | None = None
    cache_dir: Path | None = None


@dataclass(frozen=True)
class LockResult:
    lock: Lock
    report: Report


def lock_environment(
    environment: Environment, sources: LockSources, *, progress: PackageProgress | None = None
) -> LockResult:
    """Lock every distribution installed in ``environment``."""
    distributions: list[Distribution] = []
    for site_dir in environment.site_dirs:
        distributions += discover_distributions(site_dir)[0]
    builder = _Builder(sources)
    for dist in sorted(distributions, key=lambda d: d.key):
        builder.add_installed(dist)
        if progress:
            progress(dist.name)
    return builder.finish("environment", [str(d) for d in environment.site_dirs])


def lock_requirements(
    path: Path, sources: LockSources, *, progress: PackageProgress | None = None
) -> LockResult:
    """Lock a requirements set: every wheel of each pinned version (all platforms), hash-checked."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    wanted = read_requirements_lock(path, text)
    builder = _Builder(sources)
    for group in wanted.packages.values():
        for package in group:
            builder.add_required(package)
            if progress:
                progress(package.name)
    return builder.finish("requirements", [str(path)])


def count_distributions(environment: Environment) -> int:
    return sum(len(discover_distributions(d)[0]) for d in environment.site_dirs)


class _Builder:
    def __init__(self, sources: LockSources) -> None:
        self.sources = sources
        self.index = Index(sources.index_urls)
        self.store = RecordStore(sources.records_dir or default_store())
        self.local = _local_wheels(sources.wheels_dir, self.store) if sources.wheels_dir else []
        self.packages: dict[str, list[LockedPackage]] = {}
        self.problems: list[Problem] = []
        self.started = datetime.now(UTC)
        self.unknown_records: list[str] = []

    def add_installed(self, dist: Distribution) -> None:
        direct = _direct_url(dist)
        if direct is not None:
            self._keep(direct)
            return
        installed = expand_tags(dist.wheel_tags)
        local = [w for n, w in self.local if matches_installed(n, dist.name, dist.version, installed)]
        remote = [
            f
            for f in self._index_files(dist.name)
            if (n := parse_wheel_name(f.filename))
            and matches_installed(n, dist.name, dist.version, installed)
        ]
        notes: list[str] = []
        if not dist.wheel_tags:
            notes.append(
                "no WHEEL file: the installed build cannot be told apart; every wheel of the version kept"
            )
        wheels = self._wheels(dist.name, dist.version, local, remote, notes)
        if not wheels:
            where = "in --wheels or on " if self.sources.wheels_dir else "on "
            self._problem(
                dist.name,
                f"{dist.name} {dist.version}: no wheel with the installed tags "
                f"({', '.join(dist.wheel_tags) or 'none recorded'}) {where}{', '.join(self.index.urls)}",
            )
        elif len(wheels) > 1:
            notes.append(f"{len(wheels)} wheels match the installed tags; the installed one is among them")
        index = next((w.url for w in wheels if w.url), None)
        self._keep(
            LockedPackage(
                name=dist.name,
                version=dist.version,
                index=_index_of(remote, index),
                wheels=tuple(wheels),
                installed_tags=dist.wheel_tags,
                notes=tuple(notes),
            )
        )

    def add_required(self, package: LockedPackage) -> None:
        if package.version is None:
            self._problem(package.name, f"{package.name}: not pinned with ==, cannot be locked")
            return
        version = package.version
        local = [w for n, w in self.local if matches_installed(n, package.name, version, frozenset())]
        remote = [
            f
            for f in self._index_files(package.name)
            if (n := parse_wheel_name(f.filename))
            and matches_installed(n, package.name, version, frozenset())
        ]
        pinned = {w.sha256 for w in package.wheels if w.sha256}
        notes: list[str] = []
        if pinned:
            local = [w for w in local if w.sha256 in pinned]
            remote = [f for f in remote if f.sha256 in pinned]
            notes.append("restricted to the wheels whose sha256 the requirements file pins")
        wheels = self._wheels(package.name, version, local, remote, notes)
        if not wheels:
            self._problem(package.name, f"{package.name} {version}: no wheel found (sdists are not locked)")
        index = _index_of(remote, next((w.url for w in wheels if w.url), None))
        self._keep(LockedPackage(package.name, version, index, tuple(wheels), notes=tuple(notes)))

    def _wheels(
        self, name: str, version: str, local: list[LockedFile], remote: list[IndexFile], notes: list[str]
    ) -> list[LockedFile]:
        chosen: dict[str, LockedFile] = {w.filename or "": w for w in local}
        for file in remote:
            known = chosen.get(file.filename)
            if known is not None:
                if file.sha256 and known.sha256 != file.sha256:
                    self._problem(name, f"{file.filename}: local wheel sha256 differs from {file.index}")
                chosen[file.filename] = replace(known, url=file.url, upload_time=file.upload_time)
                continue
            record = self._remote_record(name, version, file)
            chosen[file.filename] = LockedFile(
                file.filename, file.url, None, file.sha256, file.size, file.upload_time, record
            )
        for wheel in chosen.values():
            if wheel.record_sha256 is None:
                self.unknown_records.append(wheel.filename or name)
        if any(w.record_sha256 is None for w in chosen.values()):
            notes.append(
                f"RECORD hash unknown ({self.sources.fetch.value} fetch): "
                "verify --lock trusts the installed RECORD"
            )
        return list(chosen.values())

    def _remote_record(self, name: str, version: str, file: IndexFile) -> str | None:
        fetch = self.sources.fetch
        if fetch is RecordFetch.NONE or self.sources.offline:
            return None
        try:
            if fetch is RecordFetch.RANGE:
                size = file.size if file.size is not None else remote_size(file.url)
                data = record_from_wheel(cast(IO[bytes], RemoteFile(file.url, size)), name, version)
            else:
                data = self._downloaded_record(name, version, file)
        except (OSError, ValueError, EOFError) as exc:
            self._problem(name, f"{file.filename}: RECORD not read ({exc})")
            return None
        return self.store.put(data)

    def _downloaded_record(self, name: str, version: str, file: IndexFile) -> bytes:
        cache = self.sources.cache_dir or self.store.root.parent / "wheels"
        target = cache / file.filename
        if not target.is_file() or (file.sha256 and file_sha256(target)[0] != file.sha256):
            download(file.url, target)
        if file.sha256 and file_sha256(target)[0] != file.sha256:
            raise ValueError(f"downloaded {file.filename} does not match the index's sha256")
        return record_from_wheel(target, name, version)

    def _index_files(self, name: str) -> list[IndexFile]:
        if self.sources.offline:
            return []
        try:
            return self.index.files(name)
        except IndexUnavailable as exc:
            self._problem(name, f"index not readable: {exc}")
            return []

    def _keep(self, package: LockedPackage) -> None:
        self.packages.setdefault(package.key, []).append(package)

    def _problem(self, name: str, message: str) -> None:
        self.problems.append(Problem(Subject(name, format="package"), ProblemKind.UNREADABLE, message))

    def finish(self, kind: str, inputs: list[str]) -> LockResult:
        from mlvet import __version__

        lock = Lock(
            "pylock.toml", {k: tuple(v) for k, v in self.packages.items()}, None, f"mlvet {__version__}"
        )
        wheels = [w for group in lock.packages.values() for p in group for w in p.wheels]
        details: dict[str, Any] = {
            "source": kind,
            "inputs": inputs,
            "indexes": [] if self.sources.offline else list(self.index.urls),
            "wheels_dir": str(self.sources.wheels_dir) if self.sources.wheels_dir else None,
            "record_fetch": "offline (local wheels only)"
            if self.sources.offline
            else self.sources.fetch.value,
            "records_dir": str(self.store.root),
            "packages": sum(len(g) for g in lock.packages.values()),
            "wheels": len(wheels),
            "records_pinned": sum(1 for w in wheels if w.record_sha256),
            "records_unknown": self.unknown_records,
            "directories": sorted(
                p.name for g in lock.packages.values() for p in g if p.directory is not None
            ),
        }
        subjects = tuple(Subject(p.name, format="package") for g in lock.packages.values() for p in g)
        report = Report(
            __version__, self.started, datetime.now(UTC), subjects, (), tuple(self.problems), details=details
        )
        return LockResult(lock, report)


def _local_wheels(directory: Path, store: RecordStore) -> list[tuple[WheelName, LockedFile]]:
    """Every wheel in ``directory`` with its sha256, size and RECORD hash (RECORDs are kept in ``store``)."""
    if not directory.is_dir():
        raise InputError(f"--wheels {directory} is not a directory")
    found = []
    for path in sorted(directory.glob("*.whl")):
        name = parse_wheel_name(path.name)
        if name is None:
            continue
        sha256, size = file_sha256(path)
        try:
            record = record_from_wheel(path, name.name, name.version)
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not a usable wheel ({exc})") from None
        found.append((name, LockedFile(path.name, None, str(path), sha256, size, None, store.put(record))))
    return found


def _direct_url(dist: Distribution) -> LockedPackage | None:
    """Editable, directory, VCS and URL installs: locked by their source, never by an index."""
    if dist.direct_url is None:
        return None
    try:
        data = json.loads(dist.direct_url)
    except ValueError:
        return LockedPackage(dist.name, dist.version, notes=("direct_url.json is unreadable",))
    url = str(data.get("url", ""))
    if isinstance(data.get("dir_info"), dict):
        path = unquote(urlsplit(url).path) if url.startswith("file:") else url
        return LockedPackage(
            dist.name, dist.version, directory=path, editable=bool(data["dir_info"].get("editable"))
        )
    if isinstance(data.get("vcs_info"), dict):
        commit = data["vcs_info"].get("commit_id", "?")
        return LockedPackage(
            dist.name, dist.version, notes=(f"installed from VCS {url} at {commit}; not hash-locked",)
        )
    return LockedPackage(dist.name, dist.version, notes=(f"installed from the URL {url}; not hash-locked",))


def _index_of(remote: list[IndexFile], url: str | None) -> str | None:
    return next((f.index for f in remote if f.url == url), None) if url else None
