"""Which models the given paths hold: a Hugging Face directory is one model, any other model file is one."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mlvet._internal.zipreader import ZipError, open_zip
from mlvet.artifacts import Buffer, Format, open_buffer, sniff
from mlvet.errors import InputError
from mlvet.provenance.hashing import file_sha256

WEIGHT_FORMATS = frozenset(
    {
        Format.PICKLE,
        Format.NUMPY,
        Format.HDF5,
        Format.ONNX,
        Format.SAVED_MODEL,
        Format.GGUF,
        Format.SAFETENSORS,
    }
)
"""Formats that hold a model by themselves (a zip counts when it is a PyTorch or Keras archive)."""

HF_MARKERS = ("config.json", "model_index.json", "adapter_config.json")
"""A directory holding one of these at its top is one model in the Hugging Face layout."""

_SKIPPED_DIRS = frozenset({".git", "__pycache__", ".cache"})


@dataclass(frozen=True)
class ModelFile:
    """One file of a model, identified by content."""

    path: Path
    relative: str
    format: Format
    sha256: str
    size: int


@dataclass(frozen=True)
class ModelArtifact:
    """A model as a BOM lists it: a name, where it lives, and its files (weights and metadata)."""

    name: str
    root: Path
    files: tuple[ModelFile, ...]
    layout: str
    """``huggingface`` for a model directory, else the format of the single weights file."""

    @property
    def weights(self) -> tuple[ModelFile, ...]:
        return tuple(f for f in self.files if f.format in WEIGHT_FORMATS or f.format is Format.ZIP)


def find_models(paths: Iterable[Path]) -> list[ModelArtifact]:
    """Every model under ``paths``; InputError when a path does not exist or holds no model at all."""
    models: list[ModelArtifact] = []
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: no such file or directory", hint="give model files or directories")
        found = list(_models_in(path))
        if not found:
            raise InputError(
                f"{path}: no model file found (formats: pickle/PyTorch, NumPy, Keras/HDF5, ONNX, SavedModel, "
                "GGUF, safetensors)",
                hint="point mlvet bom at model files or Hugging Face model directories",
            )
        models.extend(found)
    return models


def _models_in(path: Path) -> Iterator[ModelArtifact]:
    if path.is_file():
        entry = _describe(path, path.name)
        if _is_model(entry):
            yield ModelArtifact(path.name, path, (entry,), entry.format.value)
        return
    if any((path / marker).is_file() for marker in HF_MARKERS):
        files = tuple(_describe(f, f.relative_to(path).as_posix()) for f in _walk(path))
        yield ModelArtifact(path.resolve().name, path, files, "huggingface")
        return
    for child in sorted(path.iterdir()):
        if child.name not in _SKIPPED_DIRS and not child.is_symlink():
            yield from _models_in(child)


def _walk(root: Path) -> Iterator[Path]:
    for child in sorted(root.iterdir()):
        if child.is_symlink() or child.name in _SKIPPED_DIRS:
            continue
        if child.is_dir():
            yield from _walk(child)
        elif child.is_file():
            yield child


def _describe(path: Path, relative: str) -> ModelFile:
    try:
        digest = file_sha256(path)
        with open_buffer(path) as data:
            detected = sniff(data)
            if detected is Format.ZIP and not _is_model_archive(data):
                detected = Format.UNKNOWN
    except OSError as exc:
        raise InputError(
            f"{path}: cannot read: {exc.strerror or exc}", hint="check the file's permissions"
        ) from None
    return ModelFile(path, relative, detected, digest, path.stat().st_size)


def _is_model(entry: ModelFile) -> bool:
    return entry.format in WEIGHT_FORMATS or entry.format is Format.ZIP


def _is_model_archive(data: Buffer) -> bool:
    """A PyTorch (``*/data.pkl``) or Keras v3 (``config.json`` + weights) zip."""
    try:
        names = [entry.name for entry in open_zip(data).entries]
    except ZipError:
        return False
    return any(name.endswith("data.pkl") for name in names) or (
        "config.json" in names and "model.weights.h5" in names
    )
