""".npy headers, object arrays (their pickle scanned), size checks, and .npz through the zip walker."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlvet.artifacts import Buffer
from mlvet.config import Settings
from mlvet.findings import ProblemKind, Severity, Subject
from mlvet.scan import dispatch
from mlvet.scan.base import Collector, ScanContext
from mlvet.scan.numpy_format import RULES, NpyError, parse_header
from tests.corpus.containers import PAYLOAD, _npy, _zip


def run(data: Buffer) -> Collector:
    collector = Collector()
    dispatch(data, ScanContext(Subject("sample"), Settings(), collector, dispatch), None)
    return collector


def saved(array: np.ndarray, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, **kwargs)  # type: ignore[arg-type]
    return buffer.getvalue()


def test_rules() -> None:
    assert [(r.id, r.severity) for r in RULES] == [("MLV205", Severity.MEDIUM), ("MLV206", Severity.LOW)]


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.zeros((0, 5), dtype=np.int8),
        np.array(3.5),
        np.array([(1, 2.0)], dtype=[("a", "<i4"), ("b", "<f8", (2,))]),
        np.asfortranarray(np.ones((2, 3), dtype=np.complex128)),
        np.array(["abc", "de"]),
    ],
)
def test_numpy_written_arrays_are_clean(array: np.ndarray) -> None:
    data = saved(array)
    header = parse_header(data)
    assert header.shape == array.shape and header.dtype == array.dtype
    assert header.data_offset + header.data_bytes == len(data)
    collector = run(data)
    assert collector.findings == [] and collector.problems == []


def test_header_versions_2_and_3() -> None:
    fields = [("名" if i == 0 else f"f{i}", "<i1") for i in range(3)]
    with pytest.warns(UserWarning, match="format 3.0"):
        data = saved(np.zeros(2, dtype=fields))
    assert parse_header(data).version == (3, 0)
    assert parse_header(_npy("<f4", (2,), bytes(8), version=2)).version == (2, 0)
    assert run(data).findings == []


def test_object_array_pickle_is_scanned() -> None:
    collector = run(_npy("|O", (1,), PAYLOAD))
    assert [(f.rule.id, f.severity) for f in collector.findings] == [
        ("MLV206", Severity.LOW),
        ("MLV101", Severity.CRITICAL),
    ]
    pickles = [s for s in collector.subjects if s.format == "pickle"]
    assert [s.member for s in pickles] == ["<object array>"]


def test_real_object_array_reaches_the_pickle_scanner() -> None:
    collector = run(saved(np.array([1, "x", None], dtype=object), allow_pickle=True))
    assert [f.rule.id for f in collector.findings] == ["MLV206"]
    assert [s.member for s in collector.subjects if s.format == "pickle"] == ["<object array>"]


def test_structured_dtype_with_an_object_field() -> None:
    collector = run(_npy([("a", "<i4"), ("b", [("c", "|O")])], (1,), PAYLOAD))
    assert "MLV206" in [f.rule.id for f in collector.findings]


def test_short_data_is_reported() -> None:
    collector = run(_npy("<f8", (4,), bytes(16)))
    (finding,) = collector.findings
    assert finding.rule.id == "MLV205"
    assert finding.message == "array data is 16 bytes; shape and dtype declare 32"
    assert collector.problems == []


def test_bytes_after_the_array_are_reported_and_scanned() -> None:
    data = _npy("<f4", (2,), bytes(8) + PAYLOAD)
    collector = run(data)
    assert [f.rule.id for f in collector.findings] == ["MLV205", "MLV101"]
    assert (
        collector.findings[0].message
        == f"{len(PAYLOAD)} bytes follow the array data (numpy.load never reads them)"
    )
    assert [s.member for s in collector.subjects if s.format == "pickle"] == ["<trailing data>"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x93NUMPY\x09\x00\x10\x00" + b" " * 16, "unknown format version 9.0"),
        (b"\x93NUMPY\x01\x00\xff\xff{}", "header runs past the end of the file"),
        (b"\x93NUMPY\x02\x00" + (2 << 20).to_bytes(4, "little"), "is larger than"),
        (b"\x93NUMPY\x01\x00\x1b\x00{'descr': __import__('os')}", "not a Python literal"),
        (_npy("<f4", (-1,), b""), "invalid shape"),
        (_npy("<f4", (1.5,), b""), "invalid shape"),  # type: ignore[arg-type]
        (_npy("not-a-dtype", (1,), b""), "invalid descr"),
        (b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'}", "exactly descr, fortran_order and shape"),
    ],
)
def test_invalid_headers(data: bytes, reason: str) -> None:
    with pytest.raises(NpyError, match=reason.replace("(", r"\(")):
        parse_header(data)
    collector = run(data)
    assert [f.rule.id for f in collector.findings] == ["MLV205"]
    assert [p.kind for p in collector.problems] == [ProblemKind.CORRUPT]


def test_npz_members_reach_the_numpy_scanner() -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, a=np.ones(3), b=np.zeros((2, 2)))
    collector = run(buffer.getvalue())
    assert sorted((s.member, s.format) for s in collector.subjects if s.member) == [
        ("a.npy", "numpy"),
        ("b.npy", "numpy"),
    ]
    assert collector.findings == [] and collector.problems == []
    malicious = run(_zip([("a.npy", _npy("|O", (1,), PAYLOAD))]))
    assert [f.rule.id for f in malicious.findings] == ["MLV206", "MLV101"]


_SEED = saved(np.arange(6, dtype=np.int16))


@settings(max_examples=200, deadline=None)
@given(
    cut=st.integers(6, len(_SEED)),
    flips=st.lists(st.tuples(st.integers(6, len(_SEED) - 1), st.integers(1, 255)), max_size=6),
)
def test_hostile_headers_never_raise(cut: int, flips: list[tuple[int, int]]) -> None:
    data = bytearray(_SEED)
    for position, mask in flips:
        data[position] ^= mask
    collector = run(bytes(data[:cut]))
    assert all(p.kind is not ProblemKind.INTERNAL for p in collector.problems), collector.problems


def test_python2_long_integers_in_the_header_are_read_as_numpy_does() -> None:
    text = "{'descr': '<i8', 'fortran_order': False, 'shape': (3L,), }"
    header = text.encode("latin1").ljust(118) + b"\n"
    data = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + bytes(24)
    parsed = parse_header(data)
    assert parsed.shape == (3,)
