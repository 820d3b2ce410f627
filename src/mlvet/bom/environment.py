"""The installed Python distributions as BOM libraries: name, version, PURL, and what vouches for them.

An installed distribution keeps no hash of the wheel it came from. The wheel's SHA-256 comes from a
lock file when one is given (``pylock.toml``, ``uv.lock``, ``requirements.txt`` with ``--hash``), or from
``direct_url.json`` for archive installs; the installed ``RECORD``'s own SHA-256 is always recorded, so
``mlvet env verify`` can later tie the BOM to the files on disk.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.utils import canonicalize_name

from mlvet.artifacts import Format

LOADERS: Mapping[Format, tuple[str, ...]] = {
    Format.ONNX: ("onnxruntime", "onnxruntime-gpu", "onnx"),
    Format.PICKLE: ("torch", "joblib", "scikit-learn"),
    Format.ZIP: ("torch", "keras"),
    Format.NUMPY: ("numpy",),
    Format.HDF5: ("keras", "tensorflow", "h5py"),
    Format.SAVED_MODEL: ("tensorflow", "tensorflow-cpu", "keras"),
    Format.GGUF: ("llama-cpp-python", "gguf"),
    Format.SAFETENSORS: ("safetensors", "torch", "transformers"),
}
"""Which distributions load a model of each format: a model depends on those that are installed."""


@dataclass(frozen=True)
class Library:
    """One installed distribution."""

    name: str
    version: str
    wheel_sha256: str | None
    record_sha256: str | None
    hash_source: str | None
    """Where ``wheel_sha256`` came from: a lock file's path, ``direct_url.json``, or None."""

    @property
    def key(self) -> str:
        return canonicalize_name(self.name)

    @property
    def purl(self) -> str:
        return f"pkg:pypi/{self.key}@{self.version}"


def installed_libraries(
    locked: Mapping[str, str] | None = None, lock_name: str | None = None, path: Path | None = None
) -> list[Library]:
    """Every distribution of the running interpreter (or of the site-packages at ``path``).

    ``locked`` maps canonical ``name==version`` to the wheel SHA-256 a lock file vouches for.
    """
    distributions: Iterable[metadata.Distribution] = (
        metadata.distributions(path=[str(path)]) if path is not None else metadata.distributions()
    )
    libraries: dict[str, Library] = {}
    for dist in distributions:
        name = dist.metadata["Name"]
        if not name or canonicalize_name(name) in libraries:
            continue
        version = dist.version
        pin = f"{canonicalize_name(name)}=={version}"
        wheel_sha256, source = (
            (locked[pin], lock_name) if locked and pin in locked else _direct_url_hash(dist)
        )
        libraries[canonicalize_name(name)] = Library(
            name, version, wheel_sha256, _record_sha256(dist), source
        )
    return sorted(libraries.values(), key=lambda lib: lib.key)


def loaders_of(formats: Iterable[Format], libraries: Iterable[Library]) -> list[Library]:
    """The installed libraries that load models of ``formats``."""
    wanted = {canonicalize_name(n) for f in formats for n in LOADERS.get(f, ())}
    return [lib for lib in libraries if lib.key in wanted]


def _record_sha256(dist: metadata.Distribution) -> str | None:
    text = dist.read_text("RECORD")
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def _direct_url_hash(dist: metadata.Distribution) -> tuple[str | None, str | None]:
    text = dist.read_text("direct_url.json")
    if not text:
        return None, None
    try:
        info = json.loads(text).get("archive_info", {})
    except (ValueError, AttributeError):
        return None, None
    hashes = info.get("hashes") if isinstance(info, dict) else None
    if isinstance(hashes, dict) and isinstance(hashes.get("sha256"), str):
        return hashes["sha256"], "direct_url.json"
    legacy = info.get("hash") if isinstance(info, dict) else None
    if isinstance(legacy, str) and legacy.startswith("sha256="):
        return legacy.removeprefix("sha256="), "direct_url.json"
    return None, None
