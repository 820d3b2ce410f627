"""Damaged models never crash ``probe``: the outcome is a report or an ``InputError`` (exit 2)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlvet.errors import InputError
from mlvet.findings import ProblemKind
from mlvet.probe import probe
from tests.unit.probe import backdoored

MODEL = backdoored.where_bytes()[0].SerializeToString()


def _outcome(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "damaged.onnx"
    path.write_bytes(data)
    try:
        report = probe(path, budget=50, samples=2)
    except InputError:
        return
    assert all(problem.kind is not ProblemKind.INTERNAL for problem in report.problems)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=len(MODEL)))
def test_truncated_model(tmp_path: Path, cut: int) -> None:
    _outcome(tmp_path, MODEL[:cut])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0, max_value=len(MODEL) - 1), bit=st.integers(min_value=0, max_value=7))
def test_bit_flipped_model(tmp_path: Path, position: int, bit: int) -> None:
    damaged = bytearray(MODEL)
    damaged[position] ^= 1 << bit
    _outcome(tmp_path, bytes(damaged))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=512))
def test_random_bytes(tmp_path: Path, data: bytes) -> None:
    _outcome(tmp_path, data)
