"""Calibration inputs (user files or generated clean samples) and the dormant-branch check.

A calibration directory holds one sample per file: ``.npz`` archives keyed by input name, or ``.npy``
arrays when the model has a single input. Arrays are read with ``allow_pickle=False``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from mlvet.errors import InputError
from mlvet.probe.spec import InputSpec, clean_feed

MAX_FILES = 1000
MAX_FILE_BYTES = 256 * 1024 * 1024

Feed = dict[str, np.ndarray]


def sample_shapes(directory: Path, names: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """The shapes of the first calibration sample, by input name (they fill symbolic dimensions)."""
    first = _files(directory)[0]
    return {name: tuple(array.shape) for name, array in _read(first, names).items()}


def load_calibration(directory: Path, specs: Sequence[InputSpec]) -> list[Feed]:
    """Every sample in ``directory``; raises InputError when a file does not fit the model."""
    names = [spec.name for spec in specs]
    return [_fit(_read(path, names), specs, path) for path in _files(directory)]


def _files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise InputError(f"--calibration {directory}: not a directory")
    files = sorted(p for p in directory.iterdir() if p.suffix in (".npy", ".npz") and p.is_file())
    if not files:
        raise InputError(f"--calibration {directory}: no .npy or .npz files", hint="one sample per file")
    for path in files[:MAX_FILES]:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InputError(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB")
    return files[:MAX_FILES]


def generated_calibration(specs: Sequence[InputSpec], count: int, rng: np.random.Generator) -> list[Feed]:
    return [clean_feed(list(specs), rng) for _ in range(count)]


def never_changes(values: Sequence[np.ndarray]) -> bool:
    """Whether every value equals the first (NaN equal to NaN)."""
    first = values[0]
    return all(v.shape == first.shape and np.array_equal(v, first, equal_nan=_floating(v)) for v in values)


def distinct(feeds: Sequence[Mapping[str, np.ndarray]]) -> bool:
    """Whether at least two of the calibration inputs differ."""
    first = feeds[0]
    return any(any(not np.array_equal(feed[k], first[k]) for k in first) for feed in feeds[1:])


def _read(path: Path, names: Sequence[str]) -> Feed:
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable numpy file ({exc})") from None
    if isinstance(loaded, np.ndarray):
        if len(names) != 1:
            raise InputError(
                f"{path}: a .npy sample only fits a single-input model",
                hint="use .npz files keyed by input name: " + ", ".join(names),
            )
        return {names[0]: loaded}
    with loaded:
        return {name: loaded[name] for name in loaded.files}


def _fit(sample: Feed, specs: Sequence[InputSpec], path: Path) -> Feed:
    feed = {}
    for spec in specs:
        if spec.name not in sample:
            raise InputError(f"{path}: no array for input {spec.name!r}")
        array = sample[spec.name]
        if array.shape != spec.shape:
            raise InputError(
                f"{path}: input {spec.name!r} has shape {list(array.shape)}, expected {list(spec.shape)}",
                hint=f"pass --shape {spec.name}={','.join(str(d) for d in array.shape)} if that is intended",
            )
        feed[spec.name] = array.astype(spec.dtype, copy=False)
    return feed


def _floating(value: np.ndarray) -> bool:
    return bool(np.issubdtype(value.dtype, np.floating))
