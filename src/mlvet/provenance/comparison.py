"""Compare a signed manifest with the model on disk, file by file.

The model is listed and hashed with the **signed** serialization (method, hash type, shard size,
ignore paths, symlink policy: OMS §8.4), never with options of the verifier's choosing.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mlvet.provenance.hashing import ProgressSink
from mlvet.provenance.listing import Listing, list_model
from mlvet.provenance.manifest import ManifestError, Serialization, hash_listing
from mlvet.provenance.statement import SignedManifest, base_algorithm


class FileStatus(enum.StrEnum):
    OK = "ok"
    CHANGED = "changed"
    MISSING = "missing"
    EXTRA = "extra"
    SYMLINK = "symlink"
    UNHASHABLE = "unhashable"


@dataclass(frozen=True)
class FileResult:
    """One row of the verification table."""

    name: str
    status: FileStatus
    expected: str | None = None
    actual: str | None = None
    size: int | None = None
    note: str = ""

    def to_json(self) -> dict[str, object]:
        row: dict[str, object] = {"name": self.name, "status": str(self.status)}
        for key in ("expected", "actual", "size"):
            if getattr(self, key) is not None:
                row[key] = getattr(self, key)
        if self.note:
            row["note"] = self.note
        return row


@dataclass(frozen=True)
class Comparison:
    """Every row, plus the listing the local side came from and the bytes hashed."""

    rows: tuple[FileResult, ...]
    listing: Listing
    bytes_hashed: int

    def count(self, status: FileStatus) -> int:
        return sum(1 for row in self.rows if row.status is status)


def _file_of(resource_name: str, method: str) -> str:
    if method != "shards":
        return resource_name
    parts = resource_name.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        raise ManifestError(f"shard resource {resource_name!r} is not PATH:START:END")
    return parts[0]


def _group(digests: Iterable[tuple[str, str]], method: str) -> dict[str, dict[str, str]]:
    """{file name: {resource name: digest}}."""
    grouped: dict[str, dict[str, str]] = defaultdict(dict)
    for name, digest in digests:
        grouped[_file_of(name, method)][name] = digest
    return grouped


def _signed_names(signed: SignedManifest, listing: Listing) -> dict[str, dict[str, str]]:
    serialization = signed.serialization
    for resource in signed.resources:
        if base_algorithm(resource.algorithm) != serialization.hash_type:
            raise ManifestError(
                f"resource {resource.name!r} uses {resource.algorithm}, but the serialization says "
                f"{serialization.hash_type}"
            )
    pairs = [(resource.name, resource.digest) for resource in signed.resources]
    if listing.single_file and len(listing.files) == 1:
        local = listing.files[0].name
        pairs = [(_rename_single(name, local, serialization.method), digest) for name, digest in pairs]
    return _group(pairs, serialization.method)


def _rename_single(name: str, local: str, method: str) -> str:
    """model-signing names the one resource of a single-file model ``.``; OMS uses the basename."""
    if method == "shards":
        path, _, span = name.rpartition(":")
        path, _, start = path.rpartition(":")
        return f"{local}:{start}:{span}" if path == "." else name
    return local if name == "." else name


def compare(
    model: Path,
    signed: SignedManifest,
    *,
    extra_ignores: Iterable[str] = (),
    workers: int | None = None,
    progress: ProgressSink | None = None,
) -> Comparison:
    """Hash the model with the signed serialization and compare, file by file."""
    policy: Serialization = signed.serialization
    ignores = tuple(policy.ignore_paths) + tuple(extra_ignores)
    listing = list_model(model, ignores, allow_symlinks=policy.allow_symlinks)
    expected = _signed_names(signed, listing)
    actual = _group(hash_listing(listing, policy, workers=workers, progress=progress).items(), policy.method)
    sizes = {item.name: item.size for item in listing.files}
    rows: list[FileResult] = []
    for name in sorted(set(expected) | set(actual)):
        want, have = expected.get(name), actual.get(name)
        if want is not None and have is not None:
            status = FileStatus.OK if want == have else FileStatus.CHANGED
            rows.append(FileResult(name, status, _one(want), _one(have), sizes.get(name)))
        elif want is not None:
            rows.append(FileResult(name, FileStatus.MISSING, expected=_one(want)))
        elif have is not None:
            rows.append(FileResult(name, FileStatus.EXTRA, actual=_one(have), size=sizes.get(name)))
    if policy.method == "shards":
        # OMS omits empty files from shard manifests; an empty local file has no shard to compare.
        covered = {row.name for row in rows}
        rows += [
            FileResult(item.name, FileStatus.OK, size=0, note="empty file (not covered by shards)")
            for item in listing.files
            if item.size == 0 and item.name not in covered
        ]
    links = _symlink_rows(listing, expected)
    replaced = {row.name for row in links}
    rows = [row for row in rows if not (row.status is FileStatus.MISSING and row.name in replaced)]
    rows += links
    rows += [FileResult(name, FileStatus.UNHASHABLE, note=reason) for name, reason in listing.unhashable]
    return Comparison(tuple(sorted(rows, key=lambda row: row.name)), listing, sum(sizes.values()))


def _one(digests: dict[str, str]) -> str:
    """The digest of a whole-file resource, or the shard digests joined for display."""
    if len(digests) == 1:
        return next(iter(digests.values()))
    return ",".join(digests[name] for name in sorted(digests, key=_shard_start))


def _shard_start(name: str) -> int:
    try:
        return int(name.rsplit(":", 2)[1])
    except (IndexError, ValueError):
        return 0


def _symlink_rows(listing: Listing, expected: dict[str, dict[str, str]]) -> list[FileResult]:
    rows = []
    for link in listing.symlinks:
        if link.followed and not link.outside_root:
            continue
        where = "outside the model" if link.outside_root else "inside the model"
        policy = "followed (signed policy allows symlinks)" if link.followed else "not followed"
        signed = " in place of a signed file" if link.name in expected and not link.followed else ""
        rows.append(
            FileResult(link.name, FileStatus.SYMLINK, note=f"-> {link.target} ({where}; {policy}){signed}")
        )
    return rows
