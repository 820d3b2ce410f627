"""Hostile and broken input: no exception, no INTERNAL problem, bounded time; nothing is unpickled."""

from __future__ import annotations

import pickle
import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mlvet.artifacts import Format
from mlvet.config import Settings
from mlvet.findings import ProblemKind, Subject
from mlvet.scan import dispatch
from mlvet.scan.base import Collector, ScanContext
from tests.corpus.pickles import MALICIOUS
from tests.unit.scan.pickle.harness import SYSTEM, scan_bytes

SEEDS = [
    SYSTEM,
    b"cposix\nsystem\n(S'true'\ntR.",
    *(pickle.dumps({"a": [1, 2.5, "x", b"y"], "t": (None, True), "s": {3}}, protocol=p) for p in range(6)),
    pickle.dumps([{"k": i, "v": str(i) * 3} for i in range(50)], protocol=4),
]
LENGTH_OPCODES = [b"B", b"X", b"T", b"\x8d", b"\x8e", b"\x96", b"\x8b", b"\x95", b"C", b"U", b"\x8c", b"\x8a"]


def _check(data: bytes) -> None:
    collector = Collector()
    ctx = ScanContext(Subject("fuzz.pkl"), Settings(), collector, dispatch)
    started = time.process_time()
    dispatch(data, ctx, Format.PICKLE)
    assert time.process_time() - started < 5
    internal = [p.message for p in collector.problems if p.kind is ProblemKind.INTERNAL]
    assert not internal, internal


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(SEEDS), st.data())
def test_truncated_streams(seed: bytes, data: st.DataObject) -> None:
    _check(seed[: data.draw(st.integers(0, len(seed)))])


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), max_size=4))
def test_bit_flipped_streams(seed: bytes, flips: list[tuple[int, int]]) -> None:
    data = bytearray(seed)
    for position, mask in flips:
        data[position % len(data)] ^= mask
    _check(bytes(data))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([b"", b"\x80\x02", b"\x80\x04", b"\x80\x05"]), st.binary(max_size=2048))
def test_random_bytes(prefix: bytes, body: bytes) -> None:
    _check(prefix + body)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 300_000), st.sampled_from([b"(", b"N", b"]", b")", b"}", b"\x8f", b"(]"]))
def test_deep_stacks(depth: int, opcode: bytes) -> None:
    _check(b"\x80\x04" + opcode * depth + b"t" * 3 + b".")


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(LENGTH_OPCODES), st.integers(0, 2**64 - 1), st.binary(max_size=64))
def test_huge_declared_lengths(opcode: bytes, length: int, tail: bytes) -> None:
    width = {b"C": 1, b"U": 1, b"\x8c": 1, b"\x8a": 1, b"B": 4, b"X": 4, b"T": 4, b"\x8b": 4}.get(opcode, 8)
    _check(b"\x80\x05" + opcode + (length % (1 << (8 * width))).to_bytes(width, "little") + tail)


def test_scanning_never_unpickles_or_executes() -> None:
    """tests/conftest.py's audit hook fails this test if scanning resolves a global or runs code."""
    for sample in MALICIOUS:
        if sample.name.endswith(".pkl"):
            assert scan_bytes(_build(sample)).findings, sample.name


def _build(sample: Any) -> bytes:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sample"
        sample.build(path)
        return path.read_bytes()
