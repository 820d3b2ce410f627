"""Triggers across boundaries: the ``tests/corpus/graph_boundaries.py`` samples, scanned and probed.

A gate made outside an If/Loop/Scan body and applied inside, in ONNX model-local functions, in
TorchScript helper methods and submodules, through a TensorFlow ``StatefulPartitionedCall``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.graph import measure
from benchmarks.graph.variants import tests_module


def measure_boundaries(out: Path, seed: int) -> list[dict[str, Any]]:
    """Each sample built under ``out``, scanned (``scan_bytes``) and, for ONNX, probed."""
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for sample in tests_module("tests.corpus.graph_boundaries").SAMPLES:
        path = out / Path(sample.name).name
        sample.build(path)
        row: dict[str, Any] = {
            "name": path.name,
            "technique": sample.technique,
            "expected": sorted(sample.expected),
            **measure.scan_file(path),
        }
        if path.suffix == ".onnx" and row["high"]:
            row["probe"] = measure.probe_file(path, out / "probe" / path.stem, seed)
        rows.append(row)
    return rows
