from __future__ import annotations

import hashlib
import os
from pathlib import Path

import model_signing
import pytest

from mlvet.errors import InputError
from mlvet.provenance.hashing import CHUNK_SIZE, HashJob, hash_jobs
from mlvet.provenance.listing import list_model
from mlvet.provenance.manifest import (
    ManifestError,
    Resource,
    Serialization,
    build_manifest,
    default_ignores,
    model_digest,
    root_digest,
    shard_ranges,
)


def _reference_manifest(path: Path, **kwargs: object) -> dict[str, str]:
    config = model_signing.hashing.Config().use_file_serialization(**kwargs)  # type: ignore[arg-type]
    manifest = config.hash(path)
    return {str(d.identifier): d.digest.digest_hex for d in manifest.resource_descriptors()}


def test_manifest_matches_model_signing_file_by_file(model_dir: Path) -> None:
    (model_dir / ".gitattributes").write_text("*.safetensors filter=lfs")
    (model_dir / ".git").mkdir()
    (model_dir / ".git" / "HEAD").write_text("ref: refs/heads/main")
    manifest = build_manifest(model_dir, Serialization(ignore_paths=default_ignores(model_dir, None)))
    assert manifest.digests == _reference_manifest(model_dir)
    assert [r.name for r in manifest.resources] == [
        "config.json",
        "model.safetensors",
        "tokenizer/vocab.json",
    ]
    assert (
        manifest.digests["config.json"]
        == hashlib.sha256((model_dir / "config.json").read_bytes()).hexdigest()
    )


def test_root_digest_is_sha256_of_the_raw_digests_in_order() -> None:
    a, b = hashlib.sha256(b"a").hexdigest(), hashlib.sha256(b"b").hexdigest()
    resources = [Resource("a", "sha256", a), Resource("b", "sha256", b)]
    assert root_digest(resources) == hashlib.sha256(bytes.fromhex(a) + bytes.fromhex(b)).hexdigest()
    assert root_digest(reversed(resources)) != root_digest(resources)
    with pytest.raises(ManifestError, match="not hex"):
        root_digest([Resource("c", "sha256", "zz")])


def test_model_digest_of_a_directory_equals_the_model_signing_root(model_dir: Path, tmp_path: Path) -> None:
    (model_dir / "model.sig").write_text("a signature is never part of the model")
    reference = model_signing.hashing.Config().set_ignored_paths(paths=["model.sig"]).hash(model_dir)
    from model_signing._signing.signing import Payload

    statement = Payload(reference).statement.pb
    assert model_digest(model_dir) == statement.subject[0].digest["sha256"]
    weights = model_dir / "model.safetensors"
    assert model_digest(weights) == hashlib.sha256(weights.read_bytes()).hexdigest()


def test_parallel_hashing_of_big_files_and_shards_matches_hashlib(tmp_path: Path) -> None:
    data = {f"f{i}": os.urandom(CHUNK_SIZE * 2 + 1000 * i) for i in range(5)}
    jobs = []
    for name, content in data.items():
        (tmp_path / name).write_bytes(content)
        jobs.append(HashJob(name, tmp_path / name, 0, None, len(content)))
        jobs.append(HashJob(f"{name}:5:70000", tmp_path / name, 5, 70000, 69995))
    for workers in (1, 4):
        digests = hash_jobs(jobs, workers=workers)
        for name, content in data.items():
            assert digests[name] == hashlib.sha256(content).hexdigest()
            assert digests[f"{name}:5:70000"] == hashlib.sha256(content[5:70000]).hexdigest()


def test_progress_counts_every_byte(model_dir: Path) -> None:
    seen: list[int] = []

    class Sink:
        def start(self, total: int) -> None:
            seen.append(-total)

        def advance(self, amount: int) -> None:
            seen.append(amount)

    build_manifest(model_dir, progress=Sink())
    total = sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file())
    assert seen[0] == -total
    assert sum(seen[1:]) == total


def test_shards_match_model_signing_and_skip_empty_files(model_dir: Path) -> None:
    (model_dir / "empty").write_bytes(b"")
    serialization = Serialization(method="shards", shard_size=1000)
    manifest = build_manifest(model_dir, serialization)
    config = model_signing.hashing.Config().use_shard_serialization(shard_size=1000)
    reference = {
        str(d.identifier): d.digest.digest_hex for d in config.hash(model_dir).resource_descriptors()
    }
    assert manifest.digests == reference
    assert not any(name.startswith("empty:") for name in manifest.digests)
    assert shard_ranges(2500, 1000) == [(0, 1000), (1000, 2000), (2000, 2500)]
    assert shard_ranges(0, 1000) == []


def test_listing_ignores_exact_paths_and_subtrees(model_dir: Path) -> None:
    listing = list_model(model_dir, ["tokenizer", "config.json"])
    assert [f.name for f in listing.files] == ["model.safetensors"]
    listing = list_model(model_dir, ["tokenizer/vocab"])  # not a prefix match
    assert "tokenizer/vocab.json" in [f.name for f in listing.files]


def test_symlinks_are_refused_by_default_and_followed_when_allowed(model_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    (model_dir / "link.txt").symlink_to(outside)
    with pytest.raises(InputError, match=r"contains symlinks: link\.txt"):
        build_manifest(model_dir)
    manifest = build_manifest(model_dir, Serialization(allow_symlinks=True))
    assert manifest.digests["link.txt"] == hashlib.sha256(b"secret").hexdigest()
    link = manifest.listing.symlinks[0] if manifest.listing else None
    assert link is not None and link.outside_root and link.followed


def test_symlink_cycles_and_special_files_are_not_hashable(model_dir: Path) -> None:
    (model_dir / "loop").symlink_to(model_dir)
    os.mkfifo(model_dir / "pipe")
    listing = list_model(model_dir, allow_symlinks=True)
    reasons = dict(listing.unhashable)
    assert reasons["loop"] == "symlink cycle"
    assert "not a regular file" in reasons["pipe"]
    with pytest.raises(InputError, match="cannot hash"):
        build_manifest(model_dir, Serialization(allow_symlinks=True))


def test_empty_and_missing_models(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="has no files to sign"):
        build_manifest(tmp_path / "empty")
    with pytest.raises(InputError, match="does not exist"):
        build_manifest(tmp_path / "nothing")


def test_serialization_record_round_trip_and_coercion() -> None:
    record = Serialization(method="shards", shard_size=10, ignore_paths=("a",)).to_json()
    assert Serialization.from_json(record) == Serialization("shards", "sha256", False, ("a",), 10)
    # model-signing writes shard_size as a float (protobuf Struct numbers are doubles).
    assert Serialization.from_json(dict(record, shard_size=10.0)).shard_size == 10
    for bad in (
        {"method": "tree"},
        {"method": "files", "hash_type": "md5"},
        {"method": "shards", "shard_size": 1.5},
        None,
    ):
        with pytest.raises(ManifestError):
            Serialization.from_json(bad)


def test_recorded_ignore_paths_are_canonical() -> None:
    record = {"method": "files", "ignore_paths": ["./model.sig", "docs//", "/.git"]}
    assert Serialization.from_json(record).ignore_paths == ("model.sig", "docs", ".git")
