"""Model files a vulnerable loader would open, found by content (never by extension) under given roots."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlvet.artifacts import Format, open_buffer, sniff

MAX_FILES = 20_000
"""Files examined per search before it stops (and says so)."""
_SKIPPED_DIRS = frozenset({".git", "__pycache__", "node_modules", "site-packages", "dist-packages", ".venv"})
_SIMPLE_KINDS = {
    Format.PICKLE: "pickle",
    Format.HDF5: "hdf5",
    Format.GGUF: "gguf",
    Format.ONNX: "onnx",
    Format.SAVED_MODEL: "tf-saved-model",
    Format.SAFETENSORS: "safetensors",
}


@dataclass
class ModelInventory:
    """Model files found, by kind (``pytorch``, ``pickle``, ``keras``, ``hdf5``, ``gguf``, ``onnx`` ...)."""

    by_kind: dict[str, list[Path]] = field(default_factory=dict)
    searched: list[str] = field(default_factory=list)
    examined: int = 0
    truncated: bool = False

    def of_kinds(self, kinds: Iterable[str]) -> list[Path]:
        return sorted({p for k in kinds for p in self.by_kind.get(k, ())})

    def to_json(self) -> Mapping[str, object]:
        return {
            "searched": self.searched,
            "files_examined": self.examined,
            "truncated": self.truncated,
            "model_files": {k: len(v) for k, v in sorted(self.by_kind.items())},
        }


def model_kind(path: Path) -> str | None:
    """The kind of model ``path`` holds, judged from its bytes; None when it is not a model file."""
    try:
        if path.stat().st_size < 8:
            return None
        with open_buffer(path) as data:
            detected = sniff(data)
    except (OSError, ValueError):
        return None
    if detected is Format.ZIP:
        return _zip_kind(path)
    return _SIMPLE_KINDS.get(detected)


def _zip_kind(path: Path) -> str | None:
    """PyTorch archives hold ``<prefix>/data.pkl``; Keras v3 archives ``config.json`` and weights."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    leaves = {name.rsplit("/", 1)[-1] for name in names}
    if "data.pkl" in leaves or "constants.pkl" in leaves:
        return "pytorch"
    if "config.json" in names and ("model.weights.h5" in names or "metadata.json" in names):
        return "keras"
    return None


def default_model_roots(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Where frameworks cache models (Hugging Face hub, torch hub, Keras), plus the working directory."""
    env = os.environ if environ is None else environ
    home = Path(env.get("HOME") or Path.home())
    cache = Path(env.get("XDG_CACHE_HOME") or home / ".cache")
    hf_home = Path(env.get("HF_HOME") or cache / "huggingface")
    roots = [
        Path(env.get("HF_HUB_CACHE") or hf_home / "hub"),
        Path(env.get("TORCH_HOME") or cache / "torch") / "hub",
        Path(env.get("KERAS_HOME") or home / ".keras") / "models",
        Path.cwd(),
    ]
    return [r for r in dict.fromkeys(roots) if r.is_dir()]


def find_models(roots: Iterable[Path], *, max_files: int = MAX_FILES) -> ModelInventory:
    """Every model file under ``roots`` (files or directories), up to ``max_files`` examined."""
    inventory = ModelInventory()
    for root in roots:
        inventory.searched.append(str(root))
        for path in _walk(root):
            if inventory.examined >= max_files:
                inventory.truncated = True
                return inventory
            inventory.examined += 1
            kind = model_kind(path)
            if kind is not None:
                inventory.by_kind.setdefault(kind, []).append(path)
    return inventory


def _walk(root: Path) -> Iterable[Path]:
    if root.is_file():
        yield root
        return
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d not in _SKIPPED_DIRS and not d.endswith(".dist-info"))
        for name in sorted(files):
            path = Path(directory) / name
            if path.is_file() and not path.is_symlink():
                yield path
