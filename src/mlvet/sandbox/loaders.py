"""Which real loader opens a file (``--loader auto``), judged from its bytes like every mlvet decision."""

from __future__ import annotations

import zipfile
from pathlib import Path

from mlvet.artifacts import Format, open_buffer, sniff
from mlvet.errors import InputError

LOADERS = ("pickle", "torch", "joblib", "numpy", "keras", "onnx", "gguf")
"""The loaders the runner knows, in the order ``--loader`` lists them."""

_TORCH_LEGACY_MAGIC = b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")
_HEAD = 1 << 20
_DIRECT = {
    Format.NUMPY: "numpy",
    Format.HDF5: "keras",
    Format.ONNX: "onnx",
    Format.GGUF: "gguf",
    Format.TAR: "torch",
    Format.ZLIB: "joblib",
    Format.GZIP: "joblib",
    Format.BZIP2: "joblib",
    Format.XZ: "joblib",
    Format.LZMA: "joblib",
}


def choose_loader(path: Path) -> str:
    """The loader for ``path``; InputError when no loader fits (the user may name one with --loader)."""
    try:
        with open_buffer(path) as data:
            fmt = sniff(data)
            head = bytes(data[:_HEAD])
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    loader = _DIRECT.get(fmt)
    if loader is None and fmt is Format.PICKLE:
        loader = _pickle_flavour(head)
    if loader is None and fmt is Format.ZIP:
        loader = _zip_flavour(path, head)
    if loader is None:
        raise InputError(
            f"{path}: no loader for {fmt.value} content",
            hint="name one with --loader " + "|".join(LOADERS),
        )
    return loader


def inside_name(loader: str, path: Path) -> str:
    """The file name the runner sees: what the loader expects (Keras checks the extension)."""
    if loader == "keras":
        with path.open("rb") as handle:
            return "model.h5" if handle.read(4) == b"\x89HDF" else "model.keras"
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in path.name).lstrip(".")
    return safe or "artifact"


def _pickle_flavour(head: bytes) -> str:
    if b"joblib.numpy_pickle" in head or b"NumpyArrayWrapper" in head:
        return "joblib"
    if head[2:14] == _TORCH_LEGACY_MAGIC or head[:12] == _TORCH_LEGACY_MAGIC:
        return "torch"
    return "pickle"


def _zip_flavour(path: Path, head: bytes) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return "torch" if b"data.pkl" in head or b"constants.pkl" in head else None
    leaves = {name.rsplit("/", 1)[-1] for name in names}
    if "config.json" in leaves and ("model.weights.h5" in leaves or "metadata.json" in leaves):
        return "keras"
    if names and all(name.endswith(".npy") for name in names):
        return "numpy"
    if leaves & {"data.pkl", "constants.pkl", "version", ".data"} or any(n.endswith(".pkl") for n in names):
        return "torch"
    return None
