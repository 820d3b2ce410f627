"""Damaged files: every reader either reads them or refuses them with its own error, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlvet.diff.formats import FormatError, read_safetensors
from mlvet.diff.tensors import Tolerance, compare_tensors
from mlvet.diff.torch_state import StateDictError, read_state_dict
from tests.unit.diff.builders import save_safetensors, save_torch, weights

_EDITS = st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=8)


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("fuzz")
    tensors = weights(layers=1)
    return {
        "safetensors": save_safetensors(root / "a.safetensors", dict(tensors)).read_bytes(),
        "pytorch": save_torch(root / "a.pt", tensors).read_bytes(),
    }


def _damage(data: bytes, edits: list[tuple[int, int]], cut: int) -> bytes:
    damaged = bytearray(data[: max(0, len(data) - cut)])
    for position, value in edits:
        if damaged:
            damaged[position % len(damaged)] = value
    return bytes(damaged)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=_EDITS, cut=st.integers(min_value=0, max_value=64))
def test_damaged_safetensors(
    originals: dict[str, bytes], tmp_path: Path, edits: list[tuple[int, int]], cut: int
) -> None:
    path = tmp_path / "d.safetensors"
    path.write_bytes(_damage(originals["safetensors"], edits, cut))
    try:
        model = read_safetensors(path)
    except FormatError:
        return
    for ref in model.tensors:
        compare_tensors(ref, ref, Tolerance())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=_EDITS, cut=st.integers(min_value=0, max_value=64))
def test_damaged_torch_archives(
    originals: dict[str, bytes], tmp_path: Path, edits: list[tuple[int, int]], cut: int
) -> None:
    path = tmp_path / "d.pt"
    path.write_bytes(_damage(originals["pytorch"], edits, cut))
    try:
        tensors = read_state_dict(path)
    except StateDictError:
        return
    for ref in tensors:
        try:
            compare_tensors(ref, ref, Tolerance())
        except ValueError as exc:  # a storage cut short: the diff reports it as a problem
            assert "past the end" in str(exc)
