"""OMS v1.0 manifests: per-file (or per-shard) digests of a model and their root digest.

The root digest is SHA-256 over the concatenated raw digests of the resources in their listed
order (OMS §5.2); resources are listed in Unicode code-point order of their names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from mlvet.errors import InputError
from mlvet.provenance.hashing import HASH_TYPES, HashJob, ProgressSink, file_sha256, hash_jobs
from mlvet.provenance.listing import GIT_PATHS, Listing, list_model

DEFAULT_SIGNATURE_NAME: Final = "model.sig"
DEFAULT_SHARD_SIZE: Final = 1_000_000_000


class ManifestError(InputError):
    """A manifest or its serialization record cannot be used."""

    hint = "the signature's predicate is damaged or was made by an unsupported tool"


@dataclass(frozen=True)
class Serialization:
    """How a model was turned into resources: the signed ``predicate.serialization``."""

    method: str = "files"
    hash_type: str = "sha256"
    allow_symlinks: bool = False
    ignore_paths: tuple[str, ...] = ()
    shard_size: int | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "method": self.method,
            "hash_type": self.hash_type,
            "allow_symlinks": self.allow_symlinks,
            "ignore_paths": list(self.ignore_paths),
        }
        if self.method == "shards":
            data["shard_size"] = self.shard_size or DEFAULT_SHARD_SIZE
        return data

    @classmethod
    def from_json(cls, data: object) -> Serialization:
        """Parse a signed serialization record; numbers written as floats are coerced (model-signing)."""
        if not isinstance(data, Mapping):
            raise ManifestError("predicate.serialization is missing or not an object")
        method = data.get("method")
        if method not in ("files", "shards"):
            raise ManifestError(f"unsupported serialization method {method!r}")
        hash_type = data.get("hash_type", "sha256")
        if hash_type not in HASH_TYPES:
            raise ManifestError(f"unsupported hash_type {hash_type!r}")
        ignore = data.get("ignore_paths") or []
        if not isinstance(ignore, list) or not all(isinstance(p, str) for p in ignore):
            raise ManifestError("predicate.serialization.ignore_paths is not a list of strings")
        shard_size: int | None = None
        if method == "shards":
            raw = data.get("shard_size", DEFAULT_SHARD_SIZE)
            if not isinstance(raw, int | float) or isinstance(raw, bool) or raw != int(raw) or raw < 1:
                raise ManifestError(f"invalid shard_size {raw!r}")
            shard_size = int(raw)
        return cls(
            method=str(method),
            hash_type=str(hash_type),
            allow_symlinks=bool(data.get("allow_symlinks", False)),
            ignore_paths=tuple(_canonical(p) for p in ignore),
            shard_size=shard_size,
        )


def _canonical(path: str) -> str:
    """``./a//b/`` -> ``a/b``: a recorded ignore path in the form names are compared in."""
    return "/".join(part for part in path.split("/") if part not in ("", "."))


@dataclass(frozen=True)
class Resource:
    """One manifest entry: a file (or ``path:start:end`` shard), its algorithm and hex digest."""

    name: str
    algorithm: str
    digest: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "algorithm": self.algorithm, "digest": self.digest}


def root_digest(resources: Iterable[Resource]) -> str:
    """Hex SHA-256 over the raw resource digests, concatenated in the given order."""
    hasher = hashlib.sha256()
    for resource in resources:
        try:
            hasher.update(bytes.fromhex(resource.digest))
        except ValueError:
            raise ManifestError(f"digest of {resource.name!r} is not hex") from None
    return hasher.hexdigest()


@dataclass(frozen=True)
class Manifest:
    """The resources of one model under one serialization, with the listing they came from."""

    model_name: str
    serialization: Serialization
    resources: tuple[Resource, ...]
    listing: Listing | None = field(default=None, compare=False)

    @property
    def root_digest(self) -> str:
        return root_digest(self.resources)

    @property
    def digests(self) -> dict[str, str]:
        return {resource.name: resource.digest for resource in self.resources}


def shard_ranges(size: int, shard_size: int) -> list[tuple[int, int]]:
    """Consecutive [start, end) ranges covering ``size`` bytes; none for an empty file."""
    return [(start, min(start + shard_size, size)) for start in range(0, size, shard_size)]


def default_ignores(
    root: Path, signature: Path | None, extra: Iterable[str] = (), *, git: bool = True
) -> tuple[str, ...]:
    """Ignore paths to record: the git paths, the user's, and the signature file when inside the model."""
    paths = list(GIT_PATHS) if git else []
    paths.extend(extra)
    if signature is not None and root.is_dir():
        try:
            inside = signature.resolve().relative_to(root.resolve())
        except ValueError:
            inside = None
        if inside is not None and inside.parts:
            paths.append(inside.as_posix())
    return tuple(dict.fromkeys(paths))


def hash_listing(
    listing: Listing,
    serialization: Serialization,
    *,
    workers: int | None = None,
    progress: ProgressSink | None = None,
) -> dict[str, str]:
    """Digest per resource name of the listed files under ``serialization``."""
    jobs: list[HashJob] = []
    for item in listing.files:
        if serialization.method == "files":
            jobs.append(HashJob(item.name, item.path, 0, None, item.size))
            continue
        shard = serialization.shard_size or DEFAULT_SHARD_SIZE
        for start, end in shard_ranges(item.size, shard):
            jobs.append(HashJob(f"{item.name}:{start}:{end}", item.path, start, end, end - start))
    if progress is not None:
        progress.start(sum(job.size_hint for job in jobs))
    advance = progress.advance if progress is not None else None
    return hash_jobs(jobs, serialization.hash_type, workers=workers, progress=advance)


def build_manifest(
    path: Path,
    serialization: Serialization | None = None,
    *,
    workers: int | None = None,
    progress: ProgressSink | None = None,
) -> Manifest:
    """Hash the model at ``path``; refuses symlinks (unless allowed), special files and empty models."""
    serialization = serialization or Serialization(ignore_paths=default_ignores(path, None))
    listing = list_model(path, serialization.ignore_paths, allow_symlinks=serialization.allow_symlinks)
    refused = [link.name for link in listing.symlinks if not link.followed]
    if refused:
        raise InputError(
            f"model {path} contains symlinks: {', '.join(refused[:5])}",
            hint="replace them by the files, ignore them with --ignore-paths, or pass --allow-symlinks",
        )
    if listing.unhashable:
        name, reason = listing.unhashable[0]
        raise InputError(f"cannot hash {name} in {path}: {reason}", hint="remove it or --ignore-paths it")
    if not listing.files:
        raise InputError(f"model {path} has no files to sign", hint="check the path and --ignore-paths")
    digests = hash_listing(listing, serialization, workers=workers, progress=progress)
    if listing.single_file:
        digests = {_single_file_name(name, listing.files[0].name): d for name, d in digests.items()}
    resources = tuple(Resource(name, serialization.hash_type, digests[name]) for name in sorted(digests))
    return Manifest(path.resolve().name or str(path), serialization, resources, listing)


def _single_file_name(name: str, basename: str) -> str:
    """A single-file model's resource is named ``.`` as model-signing 1.1.1 writes and requires.

    OMS v1.0 asks for the basename, but the reference verifier rejects it ("extra file ."), so for
    interoperability mlvet writes ``.``; when verifying, mlvet accepts both.
    """
    return "." + name[len(basename) :] if name.startswith(basename) else name


def model_digest(path: Path) -> str:
    """The "subject digest" of a model: hex SHA-256 of a file, or the OMS root digest of a directory.

    A directory is serialized with the files method, SHA-256, the default git ignores and
    ``model.sig`` ignored, and symlinks refused, so it equals the subject digest of an mlvet (or
    model-signing) signature made with those defaults.
    """
    if path.is_file():
        return file_sha256(path)
    ignores = default_ignores(path, path / DEFAULT_SIGNATURE_NAME)
    return build_manifest(path, Serialization(ignore_paths=ignores)).root_digest
