"""The real loaders, exactly as a user would call them (this is the one place mlvet deserialises).

``prepare(name)`` imports the framework before the recorder is armed and returns the call that
loads a file; the call is made after arming.
"""

from __future__ import annotations

import os
from collections.abc import Callable

Load = Callable[[str], object]


def _pickle() -> Load:
    import pickle

    def load(path: str) -> object:
        with open(path, "rb") as stream:  # noqa: PTH123 - pathlib costs an import in the runner
            return pickle.load(stream)

    return load


def _torch() -> Load:
    import torch

    def load(path: str) -> object:
        return torch.load(path, map_location="cpu", weights_only=False)

    return load


def _joblib() -> Load:
    import joblib  # type: ignore[import-untyped]

    return joblib.load  # type: ignore[no-any-return]


def _numpy() -> Load:
    import numpy

    def load(path: str) -> object:
        loaded = numpy.load(path, allow_pickle=True)
        if hasattr(loaded, "files"):  # an .npz archive loads its members lazily: touch each one
            with loaded:
                return {name: loaded[name] for name in loaded.files}
        return loaded

    return load


def _keras() -> Load:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras  # type: ignore[import-untyped]

    def load(path: str) -> object:
        return keras.saving.load_model(path, safe_mode=False)

    return load


def _onnx() -> Load:
    import onnxruntime  # type: ignore[import-untyped]

    def load(path: str) -> object:
        return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])

    return load


def _gguf() -> Load:
    import gguf

    def load(path: str) -> object:
        return gguf.GGUFReader(path)

    return load


LOADERS: dict[str, Callable[[], Load]] = {
    "pickle": _pickle,
    "torch": _torch,
    "joblib": _joblib,
    "numpy": _numpy,
    "keras": _keras,
    "onnx": _onnx,
    "gguf": _gguf,
}


def prepare(name: str) -> Load:
    """Import the framework for loader ``name`` and return its load call."""
    return LOADERS[name]()
