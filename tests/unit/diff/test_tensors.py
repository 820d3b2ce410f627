"""Streaming tensor comparison: the numbers match a whole-array numpy reference, chunk by chunk."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from mlvet.diff import tensors as tensors_module
from mlvet.diff.formats import read_gguf, read_safetensors
from mlvet.diff.tensors import TensorRef, Tolerance, compare_tensors
from tests.unit.diff.builders import save_gguf, save_safetensors


def _ref(name: str, array: np.ndarray, dtype: str | None = None) -> TensorRef:
    raw = array.tobytes()
    return TensorRef(name, dtype or str(array.dtype), tuple(array.shape), len(raw), data=raw)


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force many chunks per tensor so that accumulation across chunks is what gets tested."""
    monkeypatch.setattr(tensors_module, "CHUNK_BYTES", 4096)


def test_statistics_match_numpy_across_chunks(small_chunks: None) -> None:
    rng = np.random.default_rng(7)
    before = rng.standard_normal((300, 70)).astype(np.float32)
    after = before.copy()
    after[::3] += rng.standard_normal((100, 70)).astype(np.float32) * 0.01
    delta = compare_tensors(_ref("w", before), _ref("w", after), Tolerance(atol=1e-3))
    difference = after.astype(np.float64) - before.astype(np.float64)
    assert delta.status == "changed"
    assert delta.max_abs_delta == pytest.approx(np.abs(difference).max())
    assert delta.rel_l2 == pytest.approx(
        np.linalg.norm(difference) / np.linalg.norm(before.astype(np.float64))
    )
    assert delta.changed_fraction == pytest.approx(np.count_nonzero(np.abs(difference) > 1e-3) / before.size)


def test_identical_tensors_are_unchanged_and_shape_changes_are_reported() -> None:
    array = np.arange(12, dtype=np.int64).reshape(3, 4)
    assert compare_tensors(_ref("a", array), _ref("a", array.copy()), Tolerance()).status == "unchanged"
    reshaped = compare_tensors(_ref("a", array), _ref("a", array.reshape(4, 3)), Tolerance())
    assert (reshaped.status, reshaped.shape_before, reshaped.shape_after) == ("reshaped", (3, 4), (4, 3))


def test_nan_on_both_sides_is_equal_and_nan_on_one_side_is_a_change() -> None:
    before = np.array([1.0, np.nan, 3.0], np.float32)
    same = compare_tensors(_ref("n", before), _ref("n", before.copy()), Tolerance())
    assert same.status == "unchanged"
    after = np.array([1.0, np.nan, np.nan], np.float32)
    changed = compare_tensors(_ref("n", before), _ref("n", after), Tolerance())
    assert changed.status == "changed"
    assert math.isinf(changed.max_abs_delta) and math.isinf(changed.rel_l2)
    assert changed.to_dict()["rel_l2"] == "inf"
    assert changed.changed_fraction == pytest.approx(1 / 3)


def test_bfloat16_is_decoded(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    before = torch.linspace(-2, 2, 64, dtype=torch.bfloat16)
    after = before.clone()
    after[5] = 100.0
    save_file({"b": before}, str(tmp_path / "a.safetensors"))
    save_file({"b": after}, str(tmp_path / "b.safetensors"))
    (left,) = read_safetensors(tmp_path / "a.safetensors").tensors
    (right,) = read_safetensors(tmp_path / "b.safetensors").tensors
    delta = compare_tensors(left, right, Tolerance())
    assert left.dtype == "bfloat16"
    assert delta.max_abs_delta == pytest.approx(100.0 - float(before[5]))
    assert delta.changed_fraction == pytest.approx(1 / 64)


def test_files_are_read_in_chunks_from_disk(tmp_path: Path, small_chunks: None) -> None:
    rng = np.random.default_rng(3)
    big = rng.standard_normal((64, 256)).astype(np.float32)
    other = big.copy()
    other[-1, -1] += 1.0
    save_safetensors(tmp_path / "a.safetensors", {"x": big, "y": big[:2]})
    save_safetensors(tmp_path / "b.safetensors", {"x": other, "y": big[:2]})
    left = {t.name: t for t in read_safetensors(tmp_path / "a.safetensors").tensors}
    right = {t.name: t for t in read_safetensors(tmp_path / "b.safetensors").tensors}
    changed = compare_tensors(left["x"], right["x"], Tolerance())
    assert changed.changed_fraction == pytest.approx(1 / big.size)
    assert changed.max_abs_delta == pytest.approx(1.0, rel=1e-6)
    assert compare_tensors(left["y"], right["y"], Tolerance()).status == "unchanged"


def test_gguf_requantization_compares_dequantized_values(tmp_path: Path) -> None:
    from gguf import GGMLQuantizationType as Q

    rng = np.random.default_rng(0)
    weight = rng.standard_normal((8, 64)).astype(np.float32)
    save_gguf(tmp_path / "a.gguf", {"w": weight}, quantize={"w": Q.Q8_0})
    save_gguf(tmp_path / "b.gguf", {"w": weight}, quantize={"w": Q.Q4_0})
    save_gguf(tmp_path / "c.gguf", {"w": weight + 0.5}, quantize={"w": Q.Q8_0})
    (q8,) = read_gguf(tmp_path / "a.gguf").tensors
    (q4,) = read_gguf(tmp_path / "b.gguf").tensors
    (shifted,) = read_gguf(tmp_path / "c.gguf").tensors
    assert (q8.dtype, q8.shape) == ("Q8_0", (8, 64))
    retyped = compare_tensors(q8, q4, Tolerance())
    assert retyped.status == "retyped" and retyped.compared == "values"
    assert 0.01 < retyped.rel_l2 < 0.3  # 4-bit rounding error, not a different tensor
    moved = compare_tensors(q8, shifted, Tolerance())
    assert moved.status == "changed" and moved.max_abs_delta == pytest.approx(0.5, abs=0.05)
