"""The advisory database: the bundled ML set, the user's updated copy, files or URLs, merged by alias."""

from __future__ import annotations

import io
import json
import os
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mlvet.env.audit.advisories import Advisory, Match, match, merge, parse_advisory
from mlvet.env.audit.catalog import family_of
from mlvet.errors import InputError

MAX_DOWNLOAD = 512 * 1024 * 1024
"""An OSV PyPI ``all.zip`` is tens of MiB; refuse anything absurdly larger."""
USER_DB_NAME = "advisories.json"


@dataclass(frozen=True)
class DatabaseSource:
    """Where a set of advisories came from."""

    name: str
    location: str
    advisories: int


class AdvisoryDatabase:
    """Advisories indexed by affected distribution, merged so that one vulnerability is one entry."""

    def __init__(self, advisories: Iterable[Advisory], sources: Sequence[DatabaseSource]) -> None:
        merged: list[Advisory] = []
        by_id: dict[str, int] = {}
        for advisory in advisories:
            index = next((by_id[i] for i in advisory.ids if i in by_id), None)
            if index is None:
                index = len(merged)
                merged.append(advisory)
            else:
                merged[index] = merge(merged[index], advisory)
            for ident in merged[index].ids:
                by_id[ident] = index
        self.advisories: tuple[Advisory, ...] = tuple(merged)
        self.sources = tuple(sources)
        self._by_package: dict[str, list[Advisory]] = {}
        for advisory in self.advisories:
            for affected in advisory.affected:
                self._by_package.setdefault(affected.package, []).append(advisory)

    def lookup(self, ident: str) -> Advisory | None:
        return next((a for a in self.advisories if ident in a.ids), None)

    def matches(self, name: str, version: str) -> list[Match]:
        """Every advisory affecting distribution ``name`` at ``version`` (its family included)."""
        family = family_of(name)
        candidates = dict.fromkeys(a for n in (name, *family) for a in self._by_package.get(n, ()))
        found = (match(a, name, version, family) for a in candidates)
        return [m for m in found if m is not None]

    def malicious_names(self) -> frozenset[str]:
        """Distributions whose every version is known-malicious."""
        names: set[str] = set()
        for advisory in self.advisories:
            if advisory.kind == "malicious":
                names.update(a.package for a in advisory.affected)
        return frozenset(names)


def bundled_records() -> list[tuple[Mapping[str, Any], str]]:
    """The OSV records shipped with mlvet (``mlvet/env/audit/data/*advisories*.json``)."""
    records: list[tuple[Mapping[str, Any], str]] = []
    data = resources.files("mlvet.env.audit") / "data"
    for entry in sorted(data.iterdir(), key=lambda e: e.name):
        if entry.name.endswith("advisories.json"):
            records.extend(
                (r, "mlvet bundled") for r in _records(json.loads(entry.read_text("utf-8")), entry.name)
            )
    return records


def user_db_path() -> Path:
    """``$XDG_DATA_HOME/mlvet/advisories/advisories.json`` (default ``~/.local/share``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mlvet" / "advisories" / USER_DB_NAME


def load_database(
    extra: Sequence[str] = (), *, offline: bool = True, use_user_db: bool = True
) -> AdvisoryDatabase:
    """The bundled advisories, the user's updated copy and each of ``extra`` (files, directories, URLs)."""
    bundled = bundled_records()
    pairs = list(bundled)
    sources = [DatabaseSource("bundled", "mlvet/env/audit/data", len(bundled))]
    user = user_db_path()
    if use_user_db and user.is_file():
        records = read_records(str(user), offline=True)
        pairs.extend((r, f"updated copy ({user})") for r in records)
        sources.append(DatabaseSource("updated copy", str(user), len(records)))
    for location in extra:
        records = read_records(location, offline=offline)
        pairs.extend((r, location) for r in records)
        sources.append(DatabaseSource("--db", location, len(records)))
    advisories: list[Advisory] = []
    for record, origin in pairs:
        if record.get("withdrawn"):
            continue  # OSV: a withdrawn record no longer applies
        try:
            advisories.append(parse_advisory(record, origin))
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise InputError(
                f"advisory database {origin}: {exc}", hint="give OSV-format JSON (schema 1.x)"
            ) from None
    return AdvisoryDatabase(advisories, sources)


def read_records(location: str, *, offline: bool) -> list[Mapping[str, Any]]:
    """OSV records from a JSON file, a directory of them, an OSV ``all.zip``, or an https URL."""
    if "://" in location:
        return _records_from_bytes(_download(location, offline=offline), location)
    path = Path(location)
    if path.is_dir():
        records: list[Mapping[str, Any]] = []
        for child in sorted(path.rglob("*.json")):
            records.extend(_records_from_bytes(_read(child), str(child)))
        return records
    return _records_from_bytes(_read(path), location)


def update_database(location: str, *, offline: bool) -> tuple[Path, int]:
    """Fetch and validate advisories from ``location`` and store them as the user's updated copy."""
    records = read_records(location, offline=offline)
    for record in records:
        try:
            parse_advisory(record, location)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise InputError(f"advisory database {location}: {exc}", hint="nothing was stored") from None
    target = user_db_path()
    payload = {
        "mlvet_advisory_copy": 1,
        "source": location,
        "fetched": datetime.now(UTC).isoformat(timespec="seconds"),
        "advisories": records,
    }
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps(payload), encoding="utf-8")
        temporary.replace(target)
    except OSError as exc:
        raise InputError(
            f"cannot store the advisory copy in {target.parent}: {exc.strerror or exc}"
        ) from None
    return target, len(records)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read advisory database {path}: {exc.strerror or exc}") from None


def _download(url: str, *, offline: bool) -> bytes:
    parsed = urlparse(url)
    if parsed.scheme != "https" and not (
        parsed.scheme == "http" and parsed.hostname in ("localhost", "127.0.0.1")
    ):
        raise InputError(
            f"unsupported advisory database URL {url!r}", hint="use an https:// URL or a local file path"
        )
    if offline:
        raise InputError(
            f"--offline forbids fetching {url}", hint="drop --offline, or download the file and pass its path"
        )
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data: bytes = response.read(MAX_DOWNLOAD + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InputError(f"cannot fetch {url}: {reason}", hint="check the URL and the network") from None
    if len(data) > MAX_DOWNLOAD:
        raise InputError(f"{url} is larger than {MAX_DOWNLOAD // 2**20} MiB", hint="is it an OSV database?")
    return data


def _records_from_bytes(data: bytes, origin: str) -> list[Mapping[str, Any]]:
    if data.startswith(b"PK\x03\x04"):
        records = list(_zip_records(data, origin))
        if not records:
            raise InputError(
                f"advisory database {origin} is a zip without OSV JSON records", hint="is it an OSV all.zip?"
            )
        return records
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            f"advisory database {origin} is not valid JSON: {exc}",
            hint="give an OSV record, a JSON list of them, a directory of them, or an OSV all.zip",
        ) from None
    return _records(document, origin)


def _zip_records(data: bytes, origin: str) -> Iterator[Mapping[str, Any]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if info.filename.endswith(".json") and info.file_size < 16 * 2**20:
                    yield from _records_from_bytes(archive.read(info), f"{origin}!/{info.filename}")
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InputError(f"advisory database {origin} is a corrupt zip: {exc}") from None


def _records(document: Any, origin: str) -> list[Mapping[str, Any]]:
    if isinstance(document, Mapping):
        for key in ("advisories", "vulns"):
            if isinstance(document.get(key), list):
                document = document[key]
                break
        else:
            document = [document]
    if not isinstance(document, list) or not all(isinstance(r, Mapping) for r in document):
        raise InputError(
            f"advisory database {origin} holds no OSV records",
            hint="expected an OSV record object, a list of them, or {'vulns': [...]}",
        )
    return list(document)
